package event

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/randfill"
)

func checkErrs(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors = %v, want %v (%v)", got, want, errs)
	}
}

var (
	t0 = time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)
	t1 = time.Date(2025, 4, 1, 10, 5, 0, 0, time.UTC)
)

// fullEvent sets every field of an events.k8s.io/v1 event.
func fullEvent() *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta: metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{Name: "web.1", Namespace: "default", UID: "u1", ResourceVersion: "7",
			Labels: map[string]string{"a": "b"}, CreationTimestamp: metav1.NewTime(t0)},
		EventTime:                metav1.NewMicroTime(t0),
		Series:                   &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(t1)},
		ReportingController:      "kubelet",
		ReportingInstance:        "node-1",
		Action:                   "Pulling",
		Reason:                   "BackOff",
		Regarding:                corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "p1", APIVersion: "v1", ResourceVersion: "5", FieldPath: "spec.containers{web}"},
		Related:                  &corev1.ObjectReference{Kind: "Node", Name: "node-1"},
		Note:                     "Back-off pulling image",
		Type:                     corev1.EventTypeWarning,
		DeprecatedSource:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		DeprecatedFirstTimestamp: metav1.NewTime(t0),
		DeprecatedLastTimestamp:  metav1.NewTime(t1),
		DeprecatedCount:          3,
	}
}

func TestConversionMapsFields(t *testing.T) {
	in := fullEvent()
	obj, err := toStored(in)
	if err != nil {
		t.Fatal(err)
	}
	core := obj.(*corev1.Event)
	if core.APIVersion != "v1" || core.Kind != "Event" {
		t.Errorf("type meta = %v", core.TypeMeta)
	}
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"involvedObject", core.InvolvedObject, in.Regarding},
		{"message", core.Message, in.Note},
		{"reportingComponent", core.ReportingController, in.ReportingController},
		{"reportingInstance", core.ReportingInstance, in.ReportingInstance},
		{"source", core.Source, in.DeprecatedSource},
		{"firstTimestamp", core.FirstTimestamp, in.DeprecatedFirstTimestamp},
		{"lastTimestamp", core.LastTimestamp, in.DeprecatedLastTimestamp},
		{"count", core.Count, in.DeprecatedCount},
		{"series", *core.Series, corev1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(t1)}},
		{"eventTime", core.EventTime, in.EventTime},
		{"action", core.Action, in.Action},
		{"reason", core.Reason, in.Reason},
		{"type", core.Type, in.Type},
		{"related", *core.Related, *in.Related},
		{"metadata", core.ObjectMeta, in.ObjectMeta},
	}
	for _, c := range checks {
		if !equality.Semantic.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The stored object shares no memory with the request.
	core.Related.Name = "changed"
	core.Labels["a"] = "changed"
	if in.Related.Name != "node-1" || in.Labels["a"] != "b" {
		t.Errorf("conversion aliases the input")
	}
}

func TestRoundTripFromEventsV1(t *testing.T) {
	f := randfill.New().NilChance(0.2).NumElements(1, 3).RandSource(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		in := &eventsv1.Event{}
		f.Fill(in)
		in.TypeMeta = metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"}
		// randfill cannot reach time's unexported fields; set real times.
		in.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(i) * time.Second))
		in.EventTime = metav1.NewMicroTime(t1)
		in.DeprecatedFirstTimestamp = metav1.NewTime(t0)
		stored, err := toStored(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := fromStored(stored)
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(in, back) {
			t.Fatalf("round trip %d changed the event:\n in  %+v\n out %+v", i, in, back)
		}
	}
}

func TestRoundTripFromCore(t *testing.T) {
	f := randfill.New().NilChance(0.2).NumElements(1, 3).RandSource(rand.NewSource(2))
	for i := 0; i < 200; i++ {
		in := &corev1.Event{}
		f.Fill(in)
		in.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Event"}
		in.LastTimestamp = metav1.NewTime(t1)
		if in.Series != nil {
			in.Series.LastObservedTime = metav1.NewMicroTime(t1)
		}
		ev, err := fromStored(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := toStored(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(in, back) {
			t.Fatalf("round trip %d changed the event:\n in  %+v\n out %+v", i, in, back)
		}
	}
}

func TestListConversion(t *testing.T) {
	list := &corev1.EventList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []corev1.Event{{Message: "a"}, {Message: "b"}}}
	obj, err := fromStored(list)
	if err != nil {
		t.Fatal(err)
	}
	out := obj.(*eventsv1.EventList)
	if out.ResourceVersion != "9" || len(out.Items) != 2 || out.Items[1].Note != "b" || out.Kind != "EventList" {
		t.Errorf("list = %+v", out)
	}
	if _, err := toStored(&corev1.Pod{}); err == nil {
		t.Errorf("converting a pod succeeded")
	}
}

func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(t0),
		ReportingController: "example.com/controller",
		ReportingInstance:   "controller-abc",
		Action:              "Scale",
		Reason:              "ScaledUp",
		Regarding:           corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"},
		Note:                "scaled up to 3",
		Type:                corev1.EventTypeNormal,
	}
}

func TestValidateCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []string
	}{
		{"valid", func(*eventsv1.Event) {}, nil},
		{"eventTime required", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} },
			// Without eventTime the legacy rules apply and namespaces match.
			[]string{"FieldValueRequired eventTime"}},
		{"reporting fields required", func(e *eventsv1.Event) {
			e.ReportingController, e.ReportingInstance, e.Action, e.Reason = "", "", "", ""
			// An empty controller is also not a qualified name, twice over,
			// exactly as Kubernetes reports it.
		}, []string{"FieldValueRequired reportingController", "FieldValueInvalid reportingController", "FieldValueInvalid reportingController",
			"FieldValueRequired reportingInstance", "FieldValueRequired action", "FieldValueRequired reason"}},
		{"reportingController not qualified", func(e *eventsv1.Event) { e.ReportingController = "not valid" },
			[]string{"FieldValueInvalid reportingController"}},
		{"too long", func(e *eventsv1.Event) {
			e.Action = strings.Repeat("a", 129)
			e.Note = strings.Repeat("n", 1025)
		}, []string{"FieldValueInvalid action", "FieldValueInvalid message"}},
		{"bad type", func(e *eventsv1.Event) { e.Type = "Info" }, []string{"FieldValueInvalid type"}},
		{"deprecated fields must be unset", func(e *eventsv1.Event) {
			e.DeprecatedFirstTimestamp = metav1.NewTime(t0)
			e.DeprecatedLastTimestamp = metav1.NewTime(t0)
			e.DeprecatedCount = 2
			e.DeprecatedSource.Component = "kubelet"
		}, []string{"FieldValueInvalid firstTimestamp", "FieldValueInvalid lastTimestamp", "FieldValueInvalid count", "FieldValueInvalid source"}},
		{"series", func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1} },
			[]string{"FieldValueInvalid series.count", "FieldValueRequired series.lastObservedTime"}},
		{"regarding namespace mismatch", func(e *eventsv1.Event) {
			e.Namespace = "team-a"
			e.Regarding.Namespace = ""
		}, []string{"FieldValueInvalid involvedObject.namespace"}},
		{"cluster object in kube-system", func(e *eventsv1.Event) {
			e.Namespace = "kube-system"
			e.Regarding = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := newEvent()
			tc.mutate(ev)
			checkErrs(t, validateCreate(context.Background(), ev), tc.want)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newEvent()
	ev := old.DeepCopy()
	ev.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(t1)}
	ev.Labels = map[string]string{"seen": "twice"}
	checkErrs(t, validateUpdate(context.Background(), ev, old), nil)

	ev = old.DeepCopy()
	ev.Note = "other"
	ev.Regarding.Name = "other"
	ev.ReportingInstance = "other"
	checkErrs(t, validateUpdate(context.Background(), ev, old), []string{
		"FieldValueInvalid message", "FieldValueInvalid involvedObject", "FieldValueInvalid reportingInstance",
	})
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Storage == nil || r.Storage.Resource != (schema.GroupResource{Resource: "events"}) {
		t.Fatalf("storage = %+v, want core events", r.Storage)
	}
	if !r.AllowCreateOnUpdate || r.TTL(newEvent()) != 3600 || ResourceWithTTL(60).TTL(newEvent()) != 60 {
		t.Errorf("events must allow create on update and live an hour")
	}
	f := r.Fields(fullEvent())
	if f["regarding.name"] != "web" || f["reportingController"] != "kubelet" || f["source"] != "kubelet" || f["type"] != "Warning" {
		t.Errorf("fields = %v", f)
	}
}

func TestCells(t *testing.T) {
	cells := Resource().Cells
	ev := newEvent()
	ev.EventTime = metav1.NewMicroTime(time.Now().Add(-2 * time.Minute))
	got := fmt.Sprint(cells(ev))
	want := fmt.Sprint([]interface{}{"2m", "Normal", "ScaledUp", "deployment/web", "", "example.com/controller, controller-abc", "scaled up to 3", "2m", int64(1), "web.1"})
	if got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}

	legacy := fullEvent()
	legacy.Series = nil
	legacy.DeprecatedFirstTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	legacy.DeprecatedLastTimestamp = metav1.NewTime(time.Now().Add(-5 * time.Minute))
	c := cells(legacy)
	if c[0] != "5m" || c[7] != "60m" || c[8] != int64(3) || c[5] != "kubelet, node-1" || c[4] != "spec.containers{web}" {
		t.Errorf("legacy cells = %v", c)
	}

	series := fullEvent()
	series.Series.LastObservedTime = metav1.NewMicroTime(time.Now().Add(-30 * time.Second))
	if c := cells(series); c[0] != "30s" || c[8] != int64(3) {
		t.Errorf("series cells = %v", c)
	}
	if n := len(Resource().Columns); len(cells(ev)) != n || Resource().Columns[9].Name != "Name" {
		t.Errorf("%d cells for %d columns", len(cells(ev)), n)
	}
}
