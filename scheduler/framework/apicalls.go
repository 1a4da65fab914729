package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// UpdatePodCondition sets a condition in a pod status, keeping its
// transition time when its status does not change; it reports whether
// anything changed.
func UpdatePodCondition(status *v1.PodStatus, c *v1.PodCondition, now time.Time) bool {
	c.LastTransitionTime = metav1.NewTime(now)
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if c.Status == old.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		equal := c.Status == old.Status && c.Reason == old.Reason && c.Message == old.Message &&
			c.LastProbeTime.Equal(&old.LastProbeTime) && c.LastTransitionTime.Equal(&old.LastTransitionTime)
		status.Conditions[i] = *c
		return !equal
	}
	status.Conditions = append(status.Conditions, *c)
	return true
}

// PatchPodStatus sends the difference between a pod's status and
// newStatus as a strategic merge patch of its status subresource, retrying
// on transient errors.
func PatchPodStatus(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, newStatus *v1.PodStatus) error {
	oldData, err := json.Marshal(v1.Pod{Status: pod.Status})
	if err != nil {
		return fmt.Errorf("marshal status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	newData, err := json.Marshal(v1.Pod{Status: *newStatus})
	if err != nil {
		return fmt.Errorf("marshal status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, &v1.Pod{})
	if err != nil {
		return fmt.Errorf("patch status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if string(patch) == "{}" {
		return nil
	}
	retriable := func(err error) bool {
		return apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) ||
			apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
	}
	return retry.OnError(retry.DefaultBackoff, retriable, func() error {
		_, err := client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		return err
	})
}

// ClearNominatedNodeName removes the nominated node of pods.
func ClearNominatedNodeName(ctx context.Context, client kubernetes.Interface, pods ...*v1.Pod) error {
	var errs []error
	for _, p := range pods {
		if p.Status.NominatedNodeName == "" {
			continue
		}
		s := p.Status.DeepCopy()
		s.NominatedNodeName = ""
		if err := PatchPodStatus(ctx, client, p, s); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("clear nominated node names: %v", errs)
	}
	return nil
}

// PodStartTime is when the pod started; now for pods not started yet.
func PodStartTime(pod *v1.Pod, now time.Time) time.Time {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return now
}

// MoreImportantPod is true when a has a higher priority than b, or the
// same and started earlier.
func MoreImportantPod(a, b *v1.Pod, now time.Time) bool {
	pa, pb := PodPriority(a), PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return PodStartTime(a, now).Before(PodStartTime(b, now))
}
