package daemonset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// daemonTolerations are the tolerations Kubernetes adds to every daemon
// pod: a daemon stays on a node that is not ready or unreachable, and goes
// on nodes under pressure or cordoned.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added to daemon pods on the host network, which
// need no pod network.
var hostNetworkToleration = corev1.Toleration{
	Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
}

// addDaemonTolerations adds the daemon tolerations to spec.
func addDaemonTolerations(spec *corev1.PodSpec) {
	for i := range daemonTolerations {
		addToleration(spec, daemonTolerations[i])
	}
	if spec.HostNetwork {
		addToleration(spec, hostNetworkToleration)
	}
}

// addToleration adds t to spec's tolerations, replacing one with the same
// key, operator, value and effect.
func addToleration(spec *corev1.PodSpec, t corev1.Toleration) {
	for i := range spec.Tolerations {
		if spec.Tolerations[i].MatchToleration(&t) {
			if !equality.Semantic.DeepEqual(spec.Tolerations[i], t) {
				spec.Tolerations[i] = t
			}
			return
		}
	}
	spec.Tolerations = append(spec.Tolerations, t)
}

// shouldRun tells whether a pod of ds should be started on node (run) and
// whether one already there may stay (keep): the pod must fit the node's
// name, labels and required affinity; an untolerated NoSchedule or
// NoExecute taint prevents a start, and only an untolerated NoExecute one
// evicts. Node conditions matter through the taints Kubernetes derives from
// them (not-ready, unreachable, pressure, unschedulable).
func shouldRun(node *corev1.Node, ds *appsv1.DaemonSet) (run, keep bool) {
	if name := ds.Spec.Template.Spec.NodeName; name != "" && name != node.Name {
		return false, false
	}
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	if !fitsNode(spec, node) {
		return false, false
	}
	if untolerated(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute) {
		return false, !untolerated(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoExecute)
	}
	return true, true
}

// untolerated reports whether a taint with one of effects is not tolerated.
func untolerated(taints []corev1.Taint, tolerations []corev1.Toleration, effects ...corev1.TaintEffect) bool {
	for i := range taints {
		t := &taints[i]
		relevant := false
		for _, e := range effects {
			relevant = relevant || t.Effect == e
		}
		if !relevant {
			continue
		}
		tolerated := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(t) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return true
		}
	}
	return false
}

// fitsNode reports whether a pod with spec may run on node by its
// nodeSelector and required node affinity.
func fitsNode(spec *corev1.PodSpec, node *corev1.Node) bool {
	nodeLabels := labels.Set(node.Labels)
	if len(spec.NodeSelector) > 0 && !labels.SelectorFromSet(spec.NodeSelector).Matches(nodeLabels) {
		return false
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	return matchesNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, node)
}

// matchesNodeSelector reports whether one of the selector's terms matches
// node. A term must have a requirement; one that cannot be parsed matches
// nothing.
func matchesNodeSelector(sel *corev1.NodeSelector, node *corev1.Node) bool {
	for i := range sel.NodeSelectorTerms {
		if termMatches(&sel.NodeSelectorTerms[i], node) {
			return true
		}
	}
	return false
}

func termMatches(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	if len(term.MatchExpressions) > 0 {
		sel, err := labelSelector(term.MatchExpressions)
		if err != nil || !sel.Matches(labels.Set(node.Labels)) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		if r.Key != metav1.ObjectNameField || len(r.Values) != 1 {
			return false
		}
		switch r.Operator {
		case corev1.NodeSelectorOpIn:
			if node.Name != r.Values[0] {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if node.Name == r.Values[0] {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// labelSelector turns node selector requirements into a label selector.
func labelSelector(reqs []corev1.NodeSelectorRequirement) (labels.Selector, error) {
	ops := map[corev1.NodeSelectorOperator]selection.Operator{
		corev1.NodeSelectorOpIn:           selection.In,
		corev1.NodeSelectorOpNotIn:        selection.NotIn,
		corev1.NodeSelectorOpExists:       selection.Exists,
		corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
		corev1.NodeSelectorOpGt:           selection.GreaterThan,
		corev1.NodeSelectorOpLt:           selection.LessThan,
	}
	sel := labels.NewSelector()
	for _, r := range reqs {
		op, ok := ops[r.Operator]
		if !ok {
			return nil, fmt.Errorf("%q is not a valid node selector operator", r.Operator)
		}
		req, err := labels.NewRequirement(r.Key, op, r.Values)
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}

// nodeAffinityFor returns affinity with its required node affinity
// replaced by one term selecting the node named name (the rest of affinity
// kept), as Kubernetes does for daemon pods.
func nodeAffinityFor(affinity *corev1.Affinity, name string) *corev1.Affinity {
	sel := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{
			Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{name},
		}},
	}}}
	if affinity == nil {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: sel}}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: sel}
		return affinity
	}
	if affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = sel
		return affinity
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = sel.NodeSelectorTerms
	return affinity
}

// targetNode is the node a daemon pod is for: its spec.nodeName once bound,
// else the node its required affinity names.
func targetNode(pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("no spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution for pod %s/%s", pod.Namespace, pod.Name)
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		for _, r := range term.MatchFields {
			if r.Key == metav1.ObjectNameField && r.Operator == corev1.NodeSelectorOpIn {
				if len(r.Values) != 1 {
					return "", fmt.Errorf("the matchFields value of '%s' is not unique for pod %s/%s", metav1.ObjectNameField, pod.Namespace, pod.Name)
				}
				return r.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("no node name found for pod %s/%s", pod.Namespace, pod.Name)
}

// nodeConditionsAlike reports whether two nodes have the same conditions
// set to True.
func nodeConditionsAlike(old, cur []corev1.NodeCondition) bool {
	trueIn := func(cs []corev1.NodeCondition) map[corev1.NodeConditionType]bool {
		m := map[corev1.NodeConditionType]bool{}
		for _, c := range cs {
			if c.Status == corev1.ConditionTrue {
				m[c.Type] = true
			}
		}
		return m
	}
	a, b := trueIn(old), trueIn(cur)
	if len(a) != len(b) {
		return false
	}
	for t := range a {
		if !b[t] {
			return false
		}
	}
	return true
}

// ignoreNodeUpdate reports whether a node update cannot change where
// daemons run: the same True conditions and nothing else changed but the
// resource version and condition details (heartbeats).
func ignoreNodeUpdate(old, cur corev1.Node) bool {
	if !nodeConditionsAlike(old.Status.Conditions, cur.Status.Conditions) {
		return false
	}
	old.ResourceVersion = cur.ResourceVersion
	old.Status.Conditions = cur.Status.Conditions
	return equality.Semantic.DeepEqual(old, cur)
}
