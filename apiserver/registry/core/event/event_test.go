package event

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry/core/internal/fieldtest"
)

var ctx = context.Background()

// legacyEvent is an event as kubelet's core/v1 recorder writes it.
func legacyEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0.17f3a5c2b1e4d6a8", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: "default", Name: "web-0", UID: "uid-1", APIVersion: "v1",
			ResourceVersion: "42", FieldPath: "spec.containers{web}",
		},
		Reason:  "Pulled",
		Message: "Successfully pulled image \"nginx\"\n",
		Source:  corev1.EventSource{Component: "kubelet", Host: "worker-1"},
		Type:    corev1.EventTypeNormal,
		Count:   3,
	}
}

// newEvent is an event as the events.k8s.io recorder writes it.
func newEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web-0.17f3a5c2b1e4d6a9", Namespace: "default"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
		Reason:              "Scheduled",
		Action:              "Binding",
		Message:             "Successfully assigned default/web-0 to worker-1",
		EventTime:           metav1.NewMicroTime(time.Now().Add(-2 * time.Minute)),
		ReportingController: "default-scheduler",
		ReportingInstance:   "default-scheduler-berth",
		Type:                corev1.EventTypeNormal,
	}
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "events" || r.ShortNames[0] != "ev" || !r.AllowCreateOnUpdate || r.TTL(legacyEvent()) != 3600 {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	if ResourceWithTTL(600).TTL(legacyEvent()) != 600 {
		t.Error("TTL not configurable")
	}
	if len(r.ValidateName("web-0.17f3a5c2b1e4d6a8", false)) != 0 || len(r.ValidateName("a/b", false)) == 0 || len(r.ValidateName("..", false)) == 0 {
		t.Error("ValidateName does not check path segments")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		event  func() *corev1.Event
		mutate func(*corev1.Event)
		want   []string
	}{
		{"legacy", legacyEvent, func(e *corev1.Event) {}, nil},
		{"legacy, namespace mismatch", legacyEvent, func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, []string{"involvedObject.namespace: Invalid value"}},
		{"legacy, cluster-scoped object in default", legacyEvent, func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "worker-1"}
		}, nil},
		{"legacy, cluster-scoped object elsewhere", legacyEvent, func(e *corev1.Event) {
			e.Namespace = "team-a"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "worker-1"}
		}, []string{"involvedObject.namespace: Invalid value"}},
		{"legacy, no reason needed", legacyEvent, func(e *corev1.Event) { e.Reason = "" }, nil},
		{"new", newEvent, func(e *corev1.Event) {}, nil},
		{"new, missing reporting fields", newEvent, func(e *corev1.Event) {
			e.ReportingController, e.ReportingInstance, e.Action, e.Reason = "", "", "", ""
		}, // Kubernetes also reports the empty controller as an invalid qualified name, twice.
			[]string{"reportingController: Required value", "reportingController: Invalid value", "reportingController: Invalid value",
				"reportingInstance: Required value", "action: Required value", "reason: Required value"}},
		{"new, bad controller and long fields", newEvent, func(e *corev1.Event) {
			e.ReportingController = "bad controller"
			e.Reason = strings.Repeat("r", 129)
			e.Message = strings.Repeat("m", 1025)
		}, []string{"reportingController: Invalid value", "reason: Invalid value", "message: Invalid value"}},
		{"new, cluster-scoped object in kube-system", newEvent, func(e *corev1.Event) {
			e.Namespace = "kube-system"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "worker-1"}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.event()
			tc.mutate(e)
			fieldtest.Expect(t, Resource().Validate(ctx, e), tc.want...)
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, e, tc.event()), tc.want...)
		})
	}
}

func TestFields(t *testing.T) {
	f := Resource().Fields(legacyEvent())
	want := map[string]string{
		"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "web-0",
		"involvedObject.uid": "uid-1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "42",
		"involvedObject.fieldPath": "spec.containers{web}", "reason": "Pulled", "reportingComponent": "",
		"source": "kubelet", "type": "Normal",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("field %s = %q, want %q", k, f[k], v)
		}
	}
	if len(f) != len(want) {
		t.Errorf("fields = %v", f)
	}
	n := Resource().Fields(newEvent())
	if n["source"] != "default-scheduler" || n["reportingComponent"] != "default-scheduler" {
		t.Errorf("new event fields = %v", n)
	}
}

func TestTable(t *testing.T) {
	r := Resource()
	if r.Columns[0].Name != "Last Seen" || r.Columns[9].Name != "Name" || r.Columns[9].Priority != 1 || r.Columns[6].Priority != 0 {
		t.Fatalf("columns = %+v", r.Columns)
	}
	legacy := legacyEvent()
	legacy.FirstTimestamp = metav1.NewTime(time.Now().Add(-1 * time.Hour))
	legacy.LastTimestamp = metav1.NewTime(time.Now().Add(-5 * time.Minute))
	series := newEvent()
	series.Series = &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(time.Now().Add(-30 * time.Second))}
	cluster := newEvent()
	cluster.InvolvedObject = corev1.ObjectReference{Kind: "Node"}
	tests := []struct {
		name string
		ev   *corev1.Event
		want []interface{}
	}{
		{"legacy", legacy, []interface{}{"5m", "Normal", "Pulled", "pod/web-0", "spec.containers{web}", "kubelet, worker-1", `Successfully pulled image "nginx"`, "60m", int64(3), "web-0.17f3a5c2b1e4d6a8"}},
		{"new singleton", newEvent(), []interface{}{"2m", "Normal", "Scheduled", "pod/web-0", "", "default-scheduler, default-scheduler-berth", "Successfully assigned default/web-0 to worker-1", "2m", int64(1), "web-0.17f3a5c2b1e4d6a9"}},
		{"series", series, []interface{}{"30s", "Normal", "Scheduled", "pod/web-0", "", "default-scheduler, default-scheduler-berth", "Successfully assigned default/web-0 to worker-1", "2m", int64(7), "web-0.17f3a5c2b1e4d6a9"}},
		{"object without name", cluster, []interface{}{"2m", "Normal", "Scheduled", "node", "", "default-scheduler, default-scheduler-berth", "Successfully assigned default/web-0 to worker-1", "2m", int64(1), "web-0.17f3a5c2b1e4d6a9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Cells(tc.ev)
			if len(got) != len(r.Columns) || !slices.Equal(got, tc.want) {
				t.Errorf("cells = %q\nwant %q", got, tc.want)
			}
		})
	}
}
