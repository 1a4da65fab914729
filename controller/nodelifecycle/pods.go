package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// markPodsNotReady sets the Ready condition of the pods of a node that is
// not ready to False, with a NodeNotReady event on each.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod, nodeName string) error {
	var errs []error
	for _, p := range pods {
		if p.Spec.NodeName != nodeName {
			continue
		}
		pod := p.DeepCopy()
		if !setPodNotReady(pod, c.now()) {
			continue
		}
		c.logger.Info("marking pod not ready", "pod", pod.Namespace+"/"+pod.Name, "node", nodeName)
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
			continue
		}
		c.recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

// setPodNotReady turns a pod's Ready condition False; false when it has
// none or it is False already.
func setPodNotReady(pod *corev1.Pod, now time.Time) bool {
	for i := range pod.Status.Conditions {
		cond := &pod.Status.Conditions[i]
		if cond.Type != corev1.PodReady {
			continue
		}
		if cond.Status == corev1.ConditionFalse {
			return false
		}
		cond.Status = corev1.ConditionFalse
		cond.LastTransitionTime = metav1.NewTime(now)
		return true
	}
	return false
}

// syncPod marks a pod just bound to a node that is not ready not ready.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(namespace).Get(name)
	if err != nil {
		return ignoreNotFound(err)
	}
	health := c.health.get(pod.Spec.NodeName)
	if health == nil {
		return nil // not seen yet: the next pass handles it
	}
	if _, err := c.nodes.Get(pod.Spec.NodeName); err != nil {
		return ignoreNotFound(err) // a pod of a deleted node is the pod GC's
	}
	ready := nodeCondition(health.status, corev1.NodeReady)
	if ready == nil || ready.Status == corev1.ConditionTrue {
		return nil
	}
	return c.markPodsNotReady(ctx, []*corev1.Pod{pod}, pod.Spec.NodeName)
}

// nodeEvent records an event about a node.
func (c *Controller) nodeEvent(node *corev1.Node, eventType, reason, message string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	c.recorder.Event(ref, eventType, reason, message)
}
