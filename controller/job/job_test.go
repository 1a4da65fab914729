package job

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

func TestBackoffRemaining(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	base, maxDelay := 10*time.Second, 6*time.Minute
	for _, tc := range []struct {
		failures int32
		ago      time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second},
		{1, 11 * time.Second, 0},
		{2, 0, 20 * time.Second},
		{3, 5 * time.Second, 35 * time.Second},
		{5, 0, 160 * time.Second},
		{6, 0, 320 * time.Second},
		{7, 0, 6 * time.Minute}, // 640s capped
		{30, time.Minute, 5 * time.Minute},
	} {
		last := now.Add(-tc.ago)
		r := backoffRecord{failuresAfterLastSuccess: tc.failures, lastFailureTime: &last}
		if got := r.remaining(now, base, maxDelay); got != tc.want {
			t.Errorf("%d failures, last %s ago: remaining %s, want %s", tc.failures, tc.ago, got, tc.want)
		}
	}
}

func finishedPod(name string, phase corev1.PodPhase, at time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(at)}},
		}}},
	}
}

func TestBackoffStoreNext(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name              string
		prev              backoffRecord
		succeeded, failed []*corev1.Pod
		wantFailures      int32
		wantLast          *time.Time
	}{
		{name: "nothing new keeps the record", prev: backoffRecord{2, ptr.To(at(1))}, wantFailures: 2, wantLast: ptr.To(at(1))},
		{name: "failures add up", prev: backoffRecord{1, ptr.To(at(1))},
			failed:       []*corev1.Pod{finishedPod("b", corev1.PodFailed, at(9)), finishedPod("a", corev1.PodFailed, at(5))},
			wantFailures: 3, wantLast: ptr.To(at(9))},
		{name: "a success resets", prev: backoffRecord{4, ptr.To(at(1))},
			succeeded: []*corev1.Pod{finishedPod("s", corev1.PodSucceeded, at(3))}},
		{name: "only failures after the last success count", prev: backoffRecord{4, ptr.To(at(1))},
			succeeded:    []*corev1.Pod{finishedPod("s", corev1.PodSucceeded, at(5))},
			failed:       []*corev1.Pod{finishedPod("a", corev1.PodFailed, at(4)), finishedPod("b", corev1.PodFailed, at(6)), finishedPod("c", corev1.PodFailed, at(8))},
			wantFailures: 2, wantLast: ptr.To(at(8))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBackoffStore()
			s.update("ns/j", tc.prev)
			got := s.next("ns/j", tc.succeeded, tc.failed)
			if got.failuresAfterLastSuccess != tc.wantFailures || !ptr.Equal(got.lastFailureTime, tc.wantLast) {
				t.Errorf("got %d failures, last %v; want %d, %v", got.failuresAfterLastSuccess, got.lastFailureTime, tc.wantFailures, tc.wantLast)
			}
		})
	}
}

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		add         []int
		want        string
		total       int
	}{
		{"", 5, nil, "", 0},
		{"", 5, []int{0, 1, 2}, "0-2", 3},
		{"1", 5, []int{2}, "1,2", 2},
		{"1,3", 5, []int{2}, "1-3", 3},
		{"0-2,7", 10, []int{4, 8}, "0-2,4,7,8", 6},
		{"0-2,7-9", 8, nil, "0-2,7", 4},   // indexes past completions dropped
		{"0,x,3-4", 10, nil, "0,3,4", 3},  // malformed parts ignored
		{"2-3,4", 10, []int{1}, "1-4", 4}, // adjacent runs merged
	} {
		iv := parseIntervals(tc.in, tc.completions).withIndexes(tc.add)
		if got := iv.String(); got != tc.want || iv.total() != tc.total {
			t.Errorf("%q + %v = %q (total %d), want %q (%d)", tc.in, tc.add, got, iv.total(), tc.want, tc.total)
		}
		for i := 0; i < tc.completions; i++ {
			want := slices.Contains(strings.Split(strings.NewReplacer("0-2", "0,1,2", "1-4", "1,2,3,4", "1-3", "1,2,3").Replace(tc.want), ","), strconv.Itoa(i))
			if iv.has(i) != want {
				t.Errorf("%q has(%d) = %v", tc.want, i, !want)
			}
		}
	}
}

func indexedPod(name string, ix int, phase corev1.PodPhase) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)}, Status: corev1.PodStatus{Phase: phase}}
	if ix != noIndex {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: strconv.Itoa(ix)}
	}
	return p
}

func indexedJob(completions int32) *batchv1.Job {
	return &batchv1.Job{Spec: batchv1.JobSpec{
		Completions: ptr.To(completions), Parallelism: ptr.To(completions),
		CompletionMode: ptr.To(batchv1.IndexedCompletion),
	}}
}

func TestFirstPendingIndexes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		succeeded   string
		active      []int
		count       int
		completions int
		want        []int
	}{
		{"fresh", "", nil, 3, 5, []int{0, 1, 2}},
		{"skips active and succeeded", "0,3", []int{1}, 5, 6, []int{2, 4, 5}},
		{"bounded by completions", "", []int{0}, 5, 3, []int{1, 2}},
		{"none left", "0-1", []int{2}, 2, 3, []int{}},
		{"zero wanted", "", nil, 0, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &syncState{job: indexedJob(int32(tc.completions)), succeededIndexes: parseIntervals(tc.succeeded, tc.completions)}
			for i, ix := range tc.active {
				st.active = append(st.active, indexedPod("a"+strconv.Itoa(i), ix, corev1.PodRunning))
			}
			got := firstPendingIndexes(st, tc.count, tc.completions)
			if !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDuplicateIndexPods(t *testing.T) {
	older := indexedPod("older", 1, corev1.PodRunning)
	older.CreationTimestamp = metav1.NewTime(time.Unix(100, 0))
	newer := indexedPod("newer", 1, corev1.PodRunning)
	newer.CreationTimestamp = metav1.NewTime(time.Unix(200, 0))
	pods := []*corev1.Pod{
		indexedPod("zero", 0, corev1.PodRunning), newer, older,
		indexedPod("noindex", noIndex, corev1.PodRunning), indexedPod("outofrange", 7, corev1.PodPending),
	}
	rm, keep := duplicateIndexPods(pods, 3)
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		sort.Strings(out)
		return out
	}
	if got := names(rm); !slices.Equal(got, []string{"newer", "noindex", "outofrange"}) {
		t.Errorf("removed %v, want newer, noindex, outofrange", got)
	}
	if got := names(keep); !slices.Equal(got, []string{"older", "zero"}) {
		t.Errorf("kept %v, want older, zero", got)
	}
}

func TestMatchFailurePolicy(t *testing.T) {
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptr.To("main"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{1}}},
	}}
	pod := func(container string, code int32, conds ...corev1.PodConditionType) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: container, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}}}}
		for _, c := range conds {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue})
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		msg    string
		count  bool
		action string
	}{
		{"disruption ignored", pod("main", 42, corev1.DisruptionTarget), "", false, "Ignore"},
		{"exit 42 fails the job", pod("main", 42), "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1", true, "FailJob"},
		{"exit 42 of another container counts", pod("side", 42), "", true, "Count"},
		{"exit 1 matches no rule", pod("main", 1), "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, count, action := matchFailurePolicy(policy, tc.pod)
			if ptr.Deref(msg, "") != tc.msg || count != tc.count || string(ptr.Deref(action, "")) != tc.action {
				t.Errorf("got (%q, %v, %q), want (%q, %v, %q)", ptr.Deref(msg, ""), count, ptr.Deref(action, ""), tc.msg, tc.count, tc.action)
			}
		})
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rules     []batchv1.SuccessPolicyRule
		succeeded string
		want      string
	}{
		{"indexes all succeeded", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0,2-3")}}, "0-3", "Matched rules at index 0"},
		{"indexes missing one", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0,2-3")}}, "0-2", ""},
		{"count within indexes", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("1-4"), SucceededCount: ptr.To[int32](2)}}, "0,3,4", "Matched rules at index 0"},
		{"count alone, second rule", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("5")}, {SucceededCount: ptr.To[int32](2)}}, "0,1", "Matched rules at index 1"},
		{"nothing succeeded", []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, met := matchSuccessPolicy(&batchv1.SuccessPolicy{Rules: tc.rules}, 6, parseIntervals(tc.succeeded, 6))
			if msg != tc.want || met != (tc.want != "") {
				t.Errorf("got %q %v, want %q", msg, met, tc.want)
			}
		})
	}
}

// newTestController builds a controller on a fake clientset whose
// informer stores hold objs (not started: the test fills them).
func newTestController(t *testing.T, objs ...interface{}) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset()
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// The fake does not generate names.
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			n++
			p.Name = p.GenerateName + strconv.Itoa(n)
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := NewWithConfig(&controller.Shared{
		Client: client, Informers: factory,
		Recorder: func(string) record.EventRecorder { return rec },
		Logger:   slog.New(slog.DiscardHandler),
		Now:      time.Now,
	}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.Job:
			if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(o); err != nil {
				t.Fatal(err)
			}
			if _, err := client.BatchV1().Jobs(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case *corev1.Pod:
			if err := factory.Core().V1().Pods().Informer().GetIndexer().Add(o); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c.(*Controller), client, rec
}

func TestSyncCreatesMissingIndexes(t *testing.T) {
	j := indexedJob(4)
	j.ObjectMeta = metav1.ObjectMeta{Namespace: "ns", Name: "idx", UID: "job-uid"}
	j.Spec.Parallelism = ptr.To[int32](3)
	j.Spec.BackoffLimit = ptr.To[int32](6)
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job": "idx"}}
	j.Spec.Template.Labels = map[string]string{"job": "idx"}
	j.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox"}}
	j.Status.CompletedIndexes = "1"
	j.Status.Succeeded = 1
	running := indexedPod("idx-0-abcde", 0, corev1.PodRunning)
	running.Namespace, running.Labels = "ns", map[string]string{"job": "idx"}
	running.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(j, batchv1.SchemeGroupVersion.WithKind("Job"))}
	running.Finalizers = []string{batchv1.JobTrackingFinalizer}

	c, client, rec := newTestController(t, j, running)
	if err := c.syncJob(context.Background(), "ns/idx"); err != nil {
		t.Fatal(err)
	}
	var indexes []string
	for _, a := range client.Actions() {
		if a.GetVerb() != "create" || a.GetResource().Resource != "pods" {
			continue
		}
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		indexes = append(indexes, ix)
		if p.GenerateName != "idx-"+ix+"-" || p.Spec.Hostname != "idx-"+ix || p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
			t.Errorf("pod of index %s: generateName %q hostname %q labels %v", ix, p.GenerateName, p.Spec.Hostname, p.Labels)
		}
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod of index %s lacks the tracking finalizer", ix)
		}
	}
	sort.Strings(indexes)
	// 0 runs and 1 succeeded: parallelism 3 wants two more, 2 and 3.
	if !slices.Equal(indexes, []string{"2", "3"}) {
		t.Errorf("created indexes %v, want [2 3]", indexes)
	}
	got, err := client.BatchV1().Jobs("ns").Get(context.Background(), "idx", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Active != 3 || got.Status.StartTime == nil || got.Status.CompletedIndexes != "1" {
		t.Errorf("status active=%d startTime=%v completedIndexes=%q", got.Status.Active, got.Status.StartTime, got.Status.CompletedIndexes)
	}
	close(rec.Events)
	var events []string
	for e := range rec.Events {
		events = append(events, e)
	}
	if len(events) != 2 || !strings.HasPrefix(events[0], "Normal SuccessfulCreate Created pod: ") {
		t.Errorf("events %v, want two SuccessfulCreate", events)
	}
	// Expectations hold the next sync until the informer shows the pods.
	if c.expectations.satisfied("ns/idx") {
		t.Error("expectations satisfied before the created pods were observed")
	}
}

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	e := newExpectations(func() time.Time { return now })
	if !e.satisfied("k") {
		t.Error("no expectations must be satisfied")
	}
	e.expect("k", 2, 0)
	e.creationObserved("k")
	if e.satisfied("k") {
		t.Error("satisfied with one creation outstanding")
	}
	e.creationObserved("k")
	if !e.satisfied("k") {
		t.Error("not satisfied after all creations observed")
	}
	e.expect("k", 0, 1)
	now = now.Add(expectationsTimeout + time.Second)
	if !e.satisfied("k") {
		t.Error("stale expectations must not block")
	}

	f := newFinalizerExpectations()
	f.expectRemoved("k", []string{"a", "b"})
	f.removalObserved("k", "a")
	if got := f.expected("k"); !got.Equal(sets.New("b")) {
		t.Errorf("expected %v, want [b]", sets.List(got))
	}
}
