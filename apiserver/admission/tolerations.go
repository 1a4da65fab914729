package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"berth/apiserver/registry/generic"
)

// DefaultTolerationSeconds gives new pods tolerations of the not-ready and
// unreachable NoExecute taints for Seconds (300 by default), unless they
// tolerate them already, as Kubernetes' admission plugin of that name: a
// pod on a failed node is evicted after that long.
type DefaultTolerationSeconds struct {
	Seconds int64
}

var _ generic.Admission = DefaultTolerationSeconds{}

// Admit adds the tolerations to pods being created.
func (d DefaultTolerationSeconds) Admit(_ context.Context, a *generic.Attributes) error {
	if a.Operation != generic.Create || a.Resource.Group != "" || a.Resource.Resource != "pods" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		taint := &corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
		tolerated := false
		for i := range pod.Spec.Tolerations {
			if pod.Spec.Tolerations[i].ToleratesTaint(taint) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			seconds := d.Seconds
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds,
			})
		}
	}
	return nil
}
