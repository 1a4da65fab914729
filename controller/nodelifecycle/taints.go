package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

var (
	// unreachableTaint is the NoExecute taint of a node whose heartbeats
	// stopped.
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	// notReadyTaint is the NoExecute taint of a node reporting Ready=False.
	notReadyTaint = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// conditionTaints maps a node condition and its status to the key of the
// NoSchedule taint it implies.
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady: {
		corev1.ConditionFalse:   corev1.TaintNodeNotReady,
		corev1.ConditionUnknown: corev1.TaintNodeUnreachable,
	},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
}

// conditionTaintKeys are the keys of the taints that mirror conditions.
var conditionTaintKeys = map[string]bool{
	corev1.TaintNodeNotReady:           true,
	corev1.TaintNodeUnreachable:        true,
	corev1.TaintNodeNetworkUnavailable: true,
	corev1.TaintNodeMemoryPressure:     true,
	corev1.TaintNodeDiskPressure:       true,
	corev1.TaintNodePIDPressure:        true,
}

// hasTaint reports whether taints hold one with t's key and effect.
func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	for i := range taints {
		if taints[i].MatchTaint(&t) {
			return true
		}
	}
	return false
}

// wantedNoScheduleTaints are the NoSchedule taints node's conditions and
// spec.unschedulable call for.
func wantedNoScheduleTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, c := range node.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		out = append(out, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// managedNoScheduleTaints are the NoSchedule taints of node this controller
// owns.
func managedNoScheduleTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && (t.Key == corev1.TaintNodeUnschedulable || conditionTaintKeys[t.Key]) {
			out = append(out, t)
		}
	}
	return out
}

// taintDiff returns the taints of want missing from have, and those of
// have not in want (matched by key and effect).
func taintDiff(want, have []corev1.Taint) (add, remove []corev1.Taint) {
	for _, t := range want {
		if !hasTaint(have, t) {
			add = append(add, t)
		}
	}
	for _, t := range have {
		if !hasTaint(want, t) {
			remove = append(remove, t)
		}
	}
	return add, remove
}

// taintPatcher changes node taints through the API.
type taintPatcher struct {
	client kubernetes.Interface
	now    func() time.Time
}

// swap adds the add taints (stamped with the time they are added) and
// removes the remove ones, in one patch guarded by the node's
// resourceVersion, retrying on conflicts with a fresh node. cached is the
// node as last seen (nil to read it); nothing is written when the taints
// are already as asked.
func (p taintPatcher) swap(ctx context.Context, name string, cached *corev1.Node, add, remove []corev1.Taint) error {
	node := cached
	for attempt := 0; ; attempt++ {
		if node == nil {
			n, err := p.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("get node %s: %w", name, err)
			}
			node = n
		}
		taints, changed := applyTaints(node.Spec.Taints, add, remove, p.now())
		if !changed {
			return nil
		}
		err := p.patch(ctx, node, taints)
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 4 {
			return fmt.Errorf("taint node %s: %w", name, err)
		}
		node = nil
	}
}

// applyTaints returns taints with add added and remove removed, and
// whether that changes anything.
func applyTaints(taints, add, remove []corev1.Taint, now time.Time) ([]corev1.Taint, bool) {
	out := make([]corev1.Taint, 0, len(taints)+len(add))
	changed := false
	for _, t := range taints {
		if hasTaint(remove, t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, t := range add {
		if hasTaint(out, t) {
			continue
		}
		t.TimeAdded = &metav1.Time{Time: now}
		out = append(out, t)
		changed = true
	}
	if len(out) == 0 {
		out = nil
	}
	return out, changed
}

func (p taintPatcher) patch(ctx context.Context, node *corev1.Node, taints []corev1.Taint) error {
	patch := map[string]any{
		"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"taints": taints},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = p.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, data, metav1.PatchOptions{})
	return err
}

// betaLabels are the deprecated node labels kept equal to the stable ones.
var betaLabels = []struct{ stable, beta string }{
	{corev1.LabelOSStable, "beta.kubernetes.io/os"},
	{corev1.LabelArchStable, "beta.kubernetes.io/arch"},
}

// labelsToReconcile returns the beta labels node lacks or has wrong.
func labelsToReconcile(node *corev1.Node) map[string]string {
	out := map[string]string{}
	for _, l := range betaLabels {
		v, ok := node.Labels[l.stable]
		if !ok {
			continue
		}
		if b, ok := node.Labels[l.beta]; !ok || b != v {
			out[l.beta] = v
		}
	}
	return out
}

func patchLabels(ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) error {
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label node %s: %w", name, err)
	}
	return nil
}
