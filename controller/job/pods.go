package job

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func hasTrackingFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// removeFinalizerPatch is the strategic merge patch removing the tracking
// finalizer.
func removeFinalizerPatch() []byte {
	return []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + batchv1.JobTrackingFinalizer + `"]}}`)
}

func (c *Controller) patchPod(ctx context.Context, ns, name string, patch []byte) error {
	_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// onlyReplaceFailed reports whether replacements wait for pods to reach the
// Failed phase (podReplacementPolicy Failed, implied by a pod failure
// policy) rather than starting as soon as they terminate.
func onlyReplaceFailed(j *batchv1.Job) bool {
	if j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == batchv1.Failed {
		return true
	}
	return j.Spec.PodFailurePolicy != nil
}

// isPodFailed reports a pod that counts as failed: Failed, or (unless only
// failed pods are replaced) deleted before it succeeded.
func isPodFailed(p *corev1.Pod, j *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailed(j) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if !isTerminal(p) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// terminatingPods are those being deleted that have not finished.
func terminatingPods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if !isTerminal(p) && p.DeletionTimestamp != nil {
			out = append(out, p)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func countReady(pods []*corev1.Pod) int32 {
	n := int32(0)
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

// sortForRemoval orders pods best-to-delete first, as Kubernetes'
// ActivePods: unscheduled before scheduled, pending before unknown before
// running, not ready before ready, ready for less time before longer, more
// restarts before fewer, newer before older.
func sortForRemoval(pods []*corev1.Pod) {
	phaseRank := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if ra, rb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; ra != rb {
			return ra < rb
		}
		if podReady(a) != podReady(b) {
			return !podReady(a)
		}
		if podReady(a) {
			ta, tb := readySince(a), readySince(b)
			if !ta.Equal(&tb) {
				return tb.Before(&ta) // ready more recently first
			}
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return false
	})
}

func readySince(p *corev1.Pod) metav1.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime
		}
	}
	return metav1.Time{}
}

func restarts(p *corev1.Pod) int32 {
	n := int32(0)
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// podsForRemoval picks at least rmAtLeast active pods to delete, plus, for
// Indexed Jobs, those with a missing, out-of-range or repeated index.
func podsForRemoval(j *batchv1.Job, active []*corev1.Pod, rmAtLeast int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(j) {
		rm, left = duplicateIndexPods(active, int(*j.Spec.Completions))
	} else {
		left = append(left, active...)
	}
	if len(rm) < rmAtLeast {
		sortForRemoval(left)
		rm = append(rm, left[:rmAtLeast-len(rm)]...)
	}
	return rm
}

// newPod builds a pod of the Job from a template.
func newPod(j *batchv1.Job, t *corev1.PodTemplateSpec, generateName string) *corev1.Pod {
	if generateName == "" {
		generateName = j.Name + "-"
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateName,
			Namespace:       j.Namespace,
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(j, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
	}
	p.Spec = *t.Spec.DeepCopy()
	return p
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// createPod creates a pod, with an event either way.
func (c *Controller) createPod(ctx context.Context, j *batchv1.Job, p *corev1.Pod) error {
	if len(p.Labels) == 0 {
		return fmt.Errorf("create pod of job %s/%s: no labels", j.Namespace, j.Name)
	}
	created, err := c.client.CoreV1().Pods(j.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.logger.Debug("created pod", "job", jobKey(j), "pod", created.Name)
	c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// deletePodObject deletes a pod, with an event either way (none if it is
// gone).
func (c *Controller) deletePodObject(ctx context.Context, j *batchv1.Job, name string) error {
	err := c.client.CoreV1().Pods(j.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return err
	case err != nil:
		c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return err
	}
	c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", name)
	return nil
}

// claimPods returns the pods the Job controls, adopting orphans its
// selector matches (with the tracking finalizer) and releasing controlled
// pods it no longer matches.
func (c *Controller) claimPods(ctx context.Context, j *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s selector: %w", jobKey(j), err)
	}
	all, err := c.pods.Pods(j.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods of job %s: %w", jobKey(j), err)
	}
	var out []*corev1.Pod
	var canAdopt *bool
	for _, p := range all {
		matches := sel.Matches(labels.Set(p.Labels))
		if ref := metav1.GetControllerOf(p); ref != nil {
			if ref.UID != j.UID {
				continue
			}
			if matches {
				out = append(out, p)
				continue
			}
			if p.DeletionTimestamp != nil {
				continue
			}
			if err := c.releasePod(ctx, j, p); err != nil {
				return out, err
			}
			continue
		}
		if !matches || p.DeletionTimestamp != nil || j.DeletionTimestamp != nil {
			continue
		}
		if canAdopt == nil {
			canAdopt = ptr.To(c.canAdopt(ctx, j))
		}
		if !*canAdopt {
			continue
		}
		if err := c.adoptPod(ctx, j, p); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
				continue
			}
			return out, err
		}
		adopted := p.DeepCopy()
		if !hasTrackingFinalizer(adopted) {
			adopted.Finalizers = append(adopted.Finalizers, batchv1.JobTrackingFinalizer)
		}
		out = append(out, adopted)
	}
	return out, nil
}

// canAdopt rechecks, with a read from the API server, that the Job is
// still the same and not being deleted before it adopts pods.
func (c *Controller) canAdopt(ctx context.Context, j *batchv1.Job) bool {
	fresh, err := c.client.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
	if err != nil || fresh.UID != j.UID || fresh.DeletionTimestamp != nil {
		return false
	}
	return true
}

func (c *Controller) adoptPod(ctx context.Context, j *batchv1.Job, p *corev1.Pod) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(j, batchv1.SchemeGroupVersion.WithKind("Job"))},
		"uid":             p.UID,
		"finalizers":      []string{batchv1.JobTrackingFinalizer},
	}})
	if err != nil {
		return err
	}
	if err := c.patchPod(ctx, p.Namespace, p.Name, patch); err != nil {
		return fmt.Errorf("adopt pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (c *Controller) releasePod(ctx context.Context, j *batchv1.Job, p *corev1.Pod) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": j.UID}},
		"uid":             p.UID,
	}})
	if err != nil {
		return err
	}
	err = c.patchPod(ctx, p.Namespace, p.Name, patch)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("release pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}
