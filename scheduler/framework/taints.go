package framework

import (
	v1 "k8s.io/api/core/v1"
)

// TolerationsTolerateTaint is true when one of the tolerations tolerates
// the taint.
func TolerationsTolerateTaint(tolerations []v1.Toleration, taint *v1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(taint) {
			return true
		}
	}
	return false
}

// FindMatchingUntoleratedTaint returns the first taint that inclusion
// accepts and no toleration tolerates.
func FindMatchingUntoleratedTaint(taints []v1.Taint, tolerations []v1.Toleration, inclusion func(*v1.Taint) bool) (v1.Taint, bool) {
	for i := range taints {
		if inclusion != nil && !inclusion(&taints[i]) {
			continue
		}
		if !TolerationsTolerateTaint(tolerations, &taints[i]) {
			return taints[i], true
		}
	}
	return v1.Taint{}, false
}

// DoNotScheduleTaint is true for the taints that keep pods off a node:
// NoSchedule and NoExecute.
func DoNotScheduleTaint(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// PodPriority is the pod's priority (0 when unset).
func PodPriority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}
