package replicaset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Event reasons, as Kubernetes' controller_utils.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// podFromTemplate is the pod a ReplicaSet creates: the template's labels,
// annotations, finalizers and spec, a generated name "<rs>-", and the
// ReplicaSet as its controller.
func podFromTemplate(rs *appsv1.ReplicaSet, kindRef *metav1.OwnerReference) *corev1.Pod {
	t := &rs.Spec.Template
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: generateNamePrefix(rs.Name),
			Namespace:    rs.Namespace,
			Labels:       copyMap(t.Labels),
			Annotations:  copyMap(t.Annotations),
			Finalizers:   append([]string(nil), t.Finalizers...),
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if kindRef != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*kindRef}
	}
	return pod
}

// generateNamePrefix is "<name>-", or the name alone when the dash would
// make it too long a prefix.
func generateNamePrefix(name string) string {
	prefix := name + "-"
	masked := prefix[:len(prefix)-1] + "a"
	if len(validation.IsDNS1123Subdomain(masked)) != 0 {
		return name
	}
	return prefix
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

// createPod creates one pod of rs and records the event Kubernetes records.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs, metav1.NewControllerRef(rs, c.kind))
	if len(labels.Set(pod.Labels)) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		}
		return err
	}
	c.logger.Debug("created pod", "replicaSet", key(rs), "pod", created.Name)
	c.recorder.Eventf(rs, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

// deletePodOf deletes one pod of rs and records the event Kubernetes
// records. A pod already gone is reported as NotFound, without event.
func (c *Controller) deletePodOf(ctx context.Context, rs *appsv1.ReplicaSet, name string) error {
	err := c.client.CoreV1().Pods(rs.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %v", name)
	return nil
}

// claimPods adopts the orphans rs selects and releases the pods it owns
// but no longer selects; it returns the pods rs owns and selects. Like
// Kubernetes' PodControllerRefManager, it checks with a live read that rs
// is not being deleted before its first adoption.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var claimed []*corev1.Pod
	var errs []error
	checked := false
	var canAdopt error
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		matches := selector.Matches(labels.Set(pod.Labels))
		if ref != nil {
			if ref.UID != rs.UID {
				continue
			}
			if matches {
				claimed = append(claimed, pod)
				continue
			}
			if rs.DeletionTimestamp != nil {
				continue
			}
			if err := c.releasePod(ctx, rs, pod); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if rs.DeletionTimestamp != nil || !matches || pod.DeletionTimestamp != nil || pod.Namespace != rs.Namespace {
			continue
		}
		if !checked {
			checked = true
			canAdopt = c.recheckNotDeleted(ctx, rs)
		}
		if canAdopt != nil {
			errs = append(errs, fmt.Errorf("can't adopt Pod %v/%v (%v): %w", pod.Namespace, pod.Name, pod.UID, canAdopt))
			continue
		}
		err := c.adoptPod(ctx, rs, pod)
		switch {
		case err == nil:
			claimed = append(claimed, pod)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, err)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// recheckNotDeleted reads rs from the API server: a ReplicaSet being
// deleted (or replaced) must not adopt.
func (c *Controller) recheckNotDeleted(ctx context.Context, rs *appsv1.ReplicaSet) error {
	fresh, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if fresh.UID != rs.UID {
		return fmt.Errorf("original %v %v/%v is gone: got uid %v, wanted %v", c.kind.Kind, rs.Namespace, rs.Name, fresh.UID, rs.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%v/%v has just been deleted at %v", rs.Namespace, rs.Name, fresh.DeletionTimestamp)
	}
	return nil
}

type patchMeta struct {
	Metadata patchObjectMeta `json:"metadata"`
}

type patchObjectMeta struct {
	OwnerReferences []interface{} `json:"ownerReferences"`
	UID             types.UID     `json:"uid"`
}

func (c *Controller) adoptPod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	ref := metav1.NewControllerRef(rs, c.kind)
	body, err := json.Marshal(patchMeta{Metadata: patchObjectMeta{OwnerReferences: []interface{}{ref}, UID: pod.UID}})
	if err != nil {
		return fmt.Errorf("adopt pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("adopt pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.logger.Debug("adopted pod", "replicaSet", key(rs), "pod", pod.Name)
	return nil
}

func (c *Controller) releasePod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	del := map[string]interface{}{"$patch": "delete", "uid": rs.UID}
	body, err := json.Marshal(patchMeta{Metadata: patchObjectMeta{OwnerReferences: []interface{}{del}, UID: pod.UID}})
	if err != nil {
		return fmt.Errorf("release pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	switch {
	case err == nil:
		c.logger.Debug("released pod", "replicaSet", key(rs), "pod", pod.Name)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsInvalid(err):
		// Gone, or no longer ours (the uid precondition failed).
		return nil
	default:
		return fmt.Errorf("release pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
}
