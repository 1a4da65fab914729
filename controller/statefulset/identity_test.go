package statefulset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testSet(name string, n int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(n),
			ServiceName: "svc",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: map[string]string{"a": "b"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			PodManagementPolicy:  appsv1.OrderedReadyPodManagement,
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

func TestParentAndOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		parent  string
		ordinal int
	}{
		{"web-0", "web", 0},
		{"web-12", "web", 12},
		{"my-web-3", "my-web", 3},
		{"web", "", -1},
		{"web-", "", -1},
		{"web-a", "", -1},
		{"web-99999999999", "web", -1}, // does not fit 32 bits
	} {
		p, o := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}})
		if p != tc.parent || o != tc.ordinal {
			t.Errorf("%s: got (%q, %d), want (%q, %d)", tc.name, p, o, tc.parent, tc.ordinal)
		}
	}
}

func TestOrdinalRange(t *testing.T) {
	set := testSet("web", 3)
	pod := func(n string) *corev1.Pod { return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}} }
	for _, tc := range []struct {
		start int32
		pod   string
		want  bool
	}{
		{0, "web-0", true}, {0, "web-2", true}, {0, "web-3", false}, {0, "other", false},
		{5, "web-4", false}, {5, "web-5", true}, {5, "web-7", true}, {5, "web-8", false},
	} {
		s := set.DeepCopy()
		if tc.start > 0 {
			s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: tc.start}
		}
		if got := inOrdinalRange(pod(tc.pod), s); got != tc.want {
			t.Errorf("start %d, %s: %v", tc.start, tc.pod, got)
		}
	}
}

func TestNewPodIdentity(t *testing.T) {
	set := testSet("web", 3)
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	set.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data"}, {Name: "config"}}
	pod := newPod(set, 2)
	checks := map[string]bool{
		"name":         pod.Name == "web-2",
		"generateName": pod.GenerateName == "web-",
		"namespace":    pod.Namespace == "ns",
		"hostname":     pod.Spec.Hostname == "web-2",
		"subdomain":    pod.Spec.Subdomain == "svc",
		"pod-name":     pod.Labels[appsv1.StatefulSetPodNameLabel] == "web-2",
		"pod-index":    pod.Labels[appsv1.PodIndexLabel] == "2",
		"template":     pod.Labels["app"] == "web" && pod.Annotations["a"] == "b",
		"owner": len(pod.OwnerReferences) == 1 && pod.OwnerReferences[0].UID == "set-uid" &&
			*pod.OwnerReferences[0].Controller && pod.OwnerReferences[0].Kind == "StatefulSet",
		"claim volume replaces the template's": len(pod.Spec.Volumes) == 2 && pod.Spec.Volumes[0].Name == "data" &&
			pod.Spec.Volumes[0].PersistentVolumeClaim != nil && pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName == "data-web-2" &&
			pod.Spec.Volumes[1].Name == "config",
		"identity matches": identityMatches(set, pod),
		"storage matches":  storageMatches(set, pod),
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: pod %+v", what, pod)
		}
	}
	if set.Spec.Template.Labels[appsv1.StatefulSetPodNameLabel] != "" {
		t.Error("newPod changed the set's template")
	}
	// A pod that lost its label or volume no longer matches.
	broken := pod.DeepCopy()
	delete(broken.Labels, appsv1.StatefulSetPodNameLabel)
	broken.Spec.Volumes = broken.Spec.Volumes[1:]
	if identityMatches(set, broken) || storageMatches(set, broken) {
		t.Error("broken pod matches")
	}
	updateIdentity(set, broken)
	updateStorage(set, broken)
	if !identityMatches(set, broken) || !storageMatches(set, broken) {
		t.Error("repaired pod does not match")
	}
	c := claims(set, pod)["data"]
	if c.Name != "data-web-2" || c.Namespace != "ns" || c.Labels["app"] != "web" {
		t.Errorf("claim = %+v", c.ObjectMeta)
	}
}

func TestNewVersionedPod(t *testing.T) {
	current := testSet("web", 4)
	update := current.DeepCopy()
	update.Spec.Template.Spec.Containers[0].Image = "img:2"
	for _, tc := range []struct {
		name      string
		strategy  appsv1.StatefulSetUpdateStrategy
		current   int32
		ordinal   int
		wantImage string
	}{
		{"partition 0", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}}, 0, 0, "img:2"},
		{"below partition", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}}, 0, 1, "img:1"},
		{"at partition", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}}, 0, 2, "img:2"},
		{"no rolling config, below current replicas", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}, 3, 2, "img:1"},
		{"no rolling config, above current replicas", appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}, 3, 3, "img:2"},
		{"on delete", appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, 3, 0, "img:2"},
	} {
		cs, us := current.DeepCopy(), update.DeepCopy()
		cs.Spec.UpdateStrategy, cs.Status.CurrentReplicas = tc.strategy, tc.current
		pod := newVersionedPod(cs, us, "web-old", "web-new", tc.ordinal)
		wantRev := map[string]string{"img:1": "web-old", "img:2": "web-new"}[tc.wantImage]
		if img := pod.Spec.Containers[0].Image; img != tc.wantImage || revision(pod) != wantRev {
			t.Errorf("%s: image %s revision %s, want %s %s", tc.name, img, revision(pod), tc.wantImage, wantRev)
		}
	}
}

func TestAvailability(t *testing.T) {
	now := time.Unix(10000, 0)
	pod := func(phase corev1.PodPhase, ready corev1.ConditionStatus, since time.Duration, deleting bool) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
		if ready != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(now.Add(-since))}}
		}
		if deleting {
			ts := metav1.NewTime(now)
			p.DeletionTimestamp = &ts
		}
		return p
	}
	for _, tc := range []struct {
		name                 string
		pod                  *corev1.Pod
		minReady             int32
		runningReady, avail  bool
		unavailable, created bool
	}{
		{"not created", &corev1.Pod{}, 0, false, false, true, false},
		{"pending", pod(corev1.PodPending, "", 0, false), 0, false, false, true, true},
		{"running, not ready", pod(corev1.PodRunning, corev1.ConditionFalse, time.Hour, false), 0, false, false, true, true},
		{"running, ready", pod(corev1.PodRunning, corev1.ConditionTrue, time.Second, false), 0, true, true, false, true},
		{"ready, too recently", pod(corev1.PodRunning, corev1.ConditionTrue, 5*time.Second, false), 10, true, false, true, true},
		{"ready long enough", pod(corev1.PodRunning, corev1.ConditionTrue, 11*time.Second, false), 10, true, true, false, true},
		{"ready but terminating", pod(corev1.PodRunning, corev1.ConditionTrue, time.Hour, true), 0, true, true, true, true},
	} {
		p := tc.pod
		if isRunningAndReady(p) != tc.runningReady || isAvailable(p, tc.minReady, now) != tc.avail ||
			isUnavailable(p, tc.minReady, now) != tc.unavailable || isCreated(p) != tc.created {
			t.Errorf("%s: runningReady %v available %v unavailable %v created %v", tc.name,
				isRunningAndReady(p), isAvailable(p, tc.minReady, now), isUnavailable(p, tc.minReady, now), isCreated(p))
		}
	}
}

func TestCondemnedOrder(t *testing.T) {
	var pods []*corev1.Pod
	for _, n := range []string{"web-3", "web-10", "web-5", "web-4"} {
		pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	sortDescending(pods)
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
	}
	if want := []string{"web-10", "web-5", "web-4", "web-3"}; !equalStrings(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
