package daemonset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func taint(key string, effect corev1.TaintEffect) corev1.Taint {
	return corev1.Taint{Key: key, Value: "v", Effect: effect}
}

func required(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestShouldRun(t *testing.T) {
	zoneA := map[string]string{"zone": "a", "cores": "8"}
	for _, tc := range []struct {
		name      string
		spec      func(*corev1.PodSpec)
		node      *corev1.Node
		run, keep bool
	}{
		{"plain node", nil, node("n", nil), true, true},
		{"other nodeName", func(s *corev1.PodSpec) { s.NodeName = "m" }, node("n", nil), false, false},
		{"same nodeName", func(s *corev1.PodSpec) { s.NodeName = "n" }, node("n", nil), true, true},
		{"nodeSelector matches", func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"zone": "a"} }, node("n", zoneA), true, true},
		{"nodeSelector does not match", func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"zone": "b"} }, node("n", zoneA), false, false},
		{"affinity In", func(s *corev1.PodSpec) { s.Affinity = required(expr("zone", corev1.NodeSelectorOpIn, "a", "b")) }, node("n", zoneA), true, true},
		{"affinity NotIn", func(s *corev1.PodSpec) { s.Affinity = required(expr("zone", corev1.NodeSelectorOpNotIn, "a")) }, node("n", zoneA), false, false},
		{"affinity Exists", func(s *corev1.PodSpec) { s.Affinity = required(expr("zone", corev1.NodeSelectorOpExists)) }, node("n", zoneA), true, true},
		{"affinity DoesNotExist", func(s *corev1.PodSpec) { s.Affinity = required(expr("zone", corev1.NodeSelectorOpDoesNotExist)) }, node("n", zoneA), false, false},
		{"affinity Gt", func(s *corev1.PodSpec) { s.Affinity = required(expr("cores", corev1.NodeSelectorOpGt, "4")) }, node("n", zoneA), true, true},
		{"affinity Lt", func(s *corev1.PodSpec) { s.Affinity = required(expr("cores", corev1.NodeSelectorOpLt, "4")) }, node("n", zoneA), false, false},
		{"affinity terms are ORed", func(s *corev1.PodSpec) {
			s.Affinity = required(expr("zone", corev1.NodeSelectorOpIn, "b"), expr("zone", corev1.NodeSelectorOpIn, "a"))
		}, node("n", zoneA), true, true},
		{"empty term matches nothing", func(s *corev1.PodSpec) { s.Affinity = required(corev1.NodeSelectorTerm{}) }, node("n", zoneA), false, false},
		{"matchFields on the name", func(s *corev1.PodSpec) {
			s.Affinity = required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n"}}}})
		}, node("n", nil), true, true},
		{"matchFields on another name", func(s *corev1.PodSpec) {
			s.Affinity = required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"m"}}}})
		}, node("n", nil), false, false},
		{"preferred affinity is ignored", func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: expr("zone", corev1.NodeSelectorOpIn, "b")}}}}
		}, node("n", zoneA), true, true},
		{"untolerated NoSchedule taint: no new pod, existing stays", nil, node("n", nil, taint("dedicated", corev1.TaintEffectNoSchedule)), false, true},
		{"untolerated NoExecute taint: pod goes", nil, node("n", nil, taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		{"PreferNoSchedule taint is ignored", nil, node("n", nil, taint("dedicated", corev1.TaintEffectPreferNoSchedule)), true, true},
		{"tolerated taint", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "v", Effect: corev1.TaintEffectNoSchedule}}
		}, node("n", nil, taint("dedicated", corev1.TaintEffectNoSchedule)), true, true},
		{"toleration with another value", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "w"}}
		}, node("n", nil, taint("dedicated", corev1.TaintEffectNoSchedule)), false, true},
		{"not ready NoExecute is tolerated", nil, node("n", nil, taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), true, true},
		{"not ready NoSchedule stops new pods", nil, node("n", nil, taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)), false, true},
		{"unreachable NoExecute is tolerated", nil, node("n", nil, taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)), true, true},
		{"cordoned node is tolerated", nil, node("n", nil, taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), true, true},
		{"memory pressure is tolerated", nil, node("n", nil, taint(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"disk pressure is tolerated", nil, node("n", nil, taint(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"pid pressure is tolerated", nil, node("n", nil, taint(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"network unavailable stops pod-network pods", nil, node("n", nil, taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), false, true},
		{"network unavailable is tolerated on the host network", func(s *corev1.PodSpec) { s.HostNetwork = true }, node("n", nil, taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := testDS("ds")
			if tc.spec != nil {
				tc.spec(&ds.Spec.Template.Spec)
			}
			before := ds.DeepCopy()
			run, keep := shouldRun(tc.node, ds)
			if run != tc.run || keep != tc.keep {
				t.Errorf("shouldRun = (%v, %v), want (%v, %v)", run, keep, tc.run, tc.keep)
			}
			if len(ds.Spec.Template.Spec.Tolerations) != len(before.Spec.Template.Spec.Tolerations) {
				t.Error("shouldRun changed the template")
			}
		})
	}
}

func TestDaemonTolerations(t *testing.T) {
	spec := &corev1.PodSpec{Tolerations: []corev1.Toleration{
		{Key: "mine", Operator: corev1.TolerationOpExists},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64)},
	}}
	addDaemonTolerations(spec)
	addDaemonTolerations(spec)
	if len(spec.Tolerations) != 7 {
		t.Fatalf("tolerations = %+v", spec.Tolerations)
	}
	if spec.Tolerations[0].Key != "mine" || spec.Tolerations[1].Key != corev1.TaintNodeUnreachable || spec.Tolerations[1].TolerationSeconds != nil {
		t.Errorf("existing tolerations not kept or replaced in place: %+v", spec.Tolerations[:2])
	}
	want := []string{"mine", corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady, corev1.TaintNodeDiskPressure,
		corev1.TaintNodeMemoryPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable}
	for i, k := range want {
		if spec.Tolerations[i].Key != k {
			t.Errorf("toleration %d = %s, want %s", i, spec.Tolerations[i].Key, k)
		}
	}
	host := &corev1.PodSpec{HostNetwork: true}
	addDaemonTolerations(host)
	if last := host.Tolerations[len(host.Tolerations)-1]; len(host.Tolerations) != 7 || last.Key != corev1.TaintNodeNetworkUnavailable {
		t.Errorf("host network tolerations = %+v", host.Tolerations)
	}
}

func TestNodeAffinityAndTarget(t *testing.T) {
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: expr("zone", corev1.NodeSelectorOpIn, "a")}}
	for _, tc := range []struct {
		name     string
		affinity *corev1.Affinity
	}{
		{"none", nil},
		{"pod affinity only", &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}}},
		{"preferred only", &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}}},
		{"required replaced", required(expr("zone", corev1.NodeSelectorOpIn, "a"))},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Affinity: nodeAffinityFor(tc.affinity.DeepCopy(), "node-1")}}
		got, err := targetNode(pod)
		if err != nil || got != "node-1" {
			t.Errorf("%s: target %q, %v", tc.name, got, err)
		}
		terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 || len(terms[0].MatchFields) != 1 {
			t.Errorf("%s: terms = %+v", tc.name, terms)
		}
		if tc.affinity != nil && tc.affinity.NodeAffinity != nil && len(tc.affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 &&
			len(pod.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
			t.Errorf("%s: preferred terms lost", tc.name)
		}
		if tc.affinity != nil && tc.affinity.PodAffinity != nil && pod.Spec.Affinity.PodAffinity == nil {
			t.Errorf("%s: pod affinity lost", tc.name)
		}
	}
	if got, err := targetNode(&corev1.Pod{Spec: corev1.PodSpec{NodeName: "bound", Affinity: nodeAffinityFor(nil, "other")}}); err != nil || got != "bound" {
		t.Errorf("bound pod target %q %v", got, err)
	}
	if _, err := targetNode(&corev1.Pod{}); err == nil {
		t.Error("a pod without node or affinity has a target")
	}
}

func TestIgnoreNodeUpdate(t *testing.T) {
	base := node("n", map[string]string{"a": "b"})
	base.ResourceVersion = "1"
	base.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Unix(1, 0)}}
	heartbeat := base.DeepCopy()
	heartbeat.ResourceVersion = "2"
	heartbeat.Status.Conditions[0].LastHeartbeatTime = metav1.Unix(2, 0)
	notReady := heartbeat.DeepCopy()
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	relabelled := heartbeat.DeepCopy()
	relabelled.Labels["a"] = "c"
	for _, tc := range []struct {
		name string
		cur  *corev1.Node
		want bool
	}{
		{"heartbeat", heartbeat, true},
		{"not ready", notReady, false},
		{"labels", relabelled, false},
	} {
		if got := ignoreNodeUpdate(*base, *tc.cur); got != tc.want {
			t.Errorf("%s: ignore = %v", tc.name, got)
		}
	}
}

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	e := newExpectations(time.Minute, func() time.Time { return now })
	if !e.satisfied("k") {
		t.Error("nothing expected is not satisfied")
	}
	e.expect("k", 2, 1)
	e.observed("k", 1, 0)
	if e.satisfied("k") {
		t.Error("satisfied with one creation missing")
	}
	e.observed("k", 1, 1)
	if !e.satisfied("k") {
		t.Error("not satisfied once all was seen")
	}
	e.expect("k", 1, 0)
	now = now.Add(61 * time.Second)
	if !e.satisfied("k") {
		t.Error("expired expectations still wait")
	}
	e.forget("k")
	if _, ok := e.m["k"]; ok {
		t.Error("forget kept the key")
	}
}

func testDS(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "ds-uid", Generation: 1,
			Annotations: map[string]string{appsv1.DeprecatedTemplateGeneration: "1"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}
