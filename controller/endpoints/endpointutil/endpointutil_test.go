package endpointutil

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestServicesToUpdateOnPodChange(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)
	store := factory.Core().V1().Services().Informer().GetStore()
	for name, sel := range map[string]map[string]string{"a": {"app": "a"}, "b": {"app": "b"}, "all": {}, "none": nil} {
		if err := store.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{Selector: sel}}); err != nil {
			t.Fatal(err)
		}
	}
	lister := factory.Core().V1().Services().Lister()
	pod := func(rv, app string, ready bool) *corev1.Pod {
		s := corev1.ConditionFalse
		if ready {
			s = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: rv, Labels: map[string]string{"app": app}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: s}}}}
	}
	cases := []struct {
		name     string
		old, cur *corev1.Pod
		want     []string
	}{
		{"resync", pod("1", "a", true), pod("1", "a", false), nil},
		{"irrelevant change", pod("1", "a", true), pod("2", "a", true), nil},
		{"readiness", pod("1", "a", true), pod("2", "a", false), []string{"ns/a", "ns/all"}},
		{"labels only: joined and left", pod("1", "a", true), pod("2", "b", true), []string{"ns/a", "ns/b"}},
		{"labels and readiness: all", pod("1", "a", true), pod("2", "b", false), []string{"ns/a", "ns/all", "ns/b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ServicesToUpdateOnPodChange(lister, tc.old, tc.cur)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("services = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestTriggerTimeTracker(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: metav1.NewTime(t0)}}
	pod := func(name string, at time.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}}}
	}
	tr := NewTriggerTimeTracker()
	sync := func(pods ...*corev1.Pod) time.Time {
		got, commit := tr.Compute("ns", svc, pods)
		commit()
		return got
	}
	if got := sync(pod("a", t0.Add(time.Minute))); !got.Equal(t0) {
		t.Errorf("first sync = %v; want the Service's creation", got)
	}
	if got := sync(pod("a", t0.Add(time.Minute))); !got.IsZero() {
		t.Errorf("unchanged = %v; want none", got)
	}
	// A sync that failed (not committed) is reported again by the retry.
	if got, _ := tr.Compute("ns", svc, []*corev1.Pod{pod("a", t0.Add(3*time.Minute)), pod("b", t0.Add(2*time.Minute))}); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("two changes = %v; want the earliest", got)
	}
	if got := sync(pod("a", t0.Add(3*time.Minute)), pod("b", t0.Add(2*time.Minute))); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("retried sync = %v; want the earliest unpublished change", got)
	}
	tr.Delete("ns", "s")
	if got := sync(); !got.Equal(t0) {
		t.Errorf("after delete = %v; want the Service's creation", got)
	}
}

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers:     []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}},
		InitContainers: []corev1.Container{{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}}}},
	}}
	cases := []struct {
		target intstr.IntOrString
		proto  corev1.Protocol
		want   int
		ok     bool
	}{
		{intstr.FromString("http"), corev1.ProtocolTCP, 8080, true},
		{intstr.FromString("http"), corev1.ProtocolUDP, 0, false},
		{intstr.FromString("proxy"), corev1.ProtocolTCP, 15001, true},
		{intstr.FromString("nope"), corev1.ProtocolTCP, 0, false},
		{intstr.FromInt32(9090), corev1.ProtocolTCP, 9090, true},
	}
	for _, tc := range cases {
		got, err := FindPort(pod, &corev1.ServicePort{TargetPort: tc.target, Protocol: tc.proto})
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("FindPort(%v/%s) = %d, %v; want %d, ok=%v", tc.target.String(), tc.proto, got, err, tc.want, tc.ok)
		}
	}
}
