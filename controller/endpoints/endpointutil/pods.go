package endpointutil

import (
	"fmt"
	"log/slog"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth/internal/informer"
)

// ShouldPodBeInEndpoints reports whether a pod belongs in a Service's
// endpoints: it has an IP, is not finished (Succeeded/Failed), and, unless
// includeTerminating, is not being deleted.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// ShouldSetHostname reports whether a pod's endpoint carries its hostname:
// the pod names the Service as its subdomain.
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && svc.Namespace == pod.Namespace
}

// IsPodReady reports whether a pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	c := PodReadyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// PodReadyCondition returns a pod's Ready condition, or nil.
func PodReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// IsServiceIPSet reports whether a Service has a cluster IP (is not
// headless).
func IsServiceIPSet(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != ""
}

// FindPort resolves a Service port's targetPort on a pod: a number is
// itself; a name is looked up among the ports of the pod's containers and
// sidecars (restartable init containers) with the Service port's protocol.
func FindPort(pod *corev1.Pod, svcPort *corev1.ServicePort) (int, error) {
	target := svcPort.TargetPort
	switch target.Type {
	case intstr.String:
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == target.StrVal && p.Protocol == svcPort.Protocol {
					return int(p.ContainerPort), nil
				}
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				continue
			}
			for _, p := range c.Ports {
				if p.Name == target.StrVal && p.Protocol == svcPort.Protocol {
					return int(p.ContainerPort), nil
				}
			}
		}
	case intstr.Int:
		return target.IntValue(), nil
	}
	return 0, fmt.Errorf("no suitable port for manifest: %s", pod.UID)
}

// PodHandler is the pod event handler of the endpoint controllers: it
// queues, through add, the keys of the Services a pod event concerns.
func PodHandler(services corelisters.ServiceLister, add func(key string), logger *slog.Logger) cache.ResourceEventHandlerFuncs {
	added := func(obj interface{}) {
		pod, ok := informer.Object[*corev1.Pod](obj)
		if !ok {
			return
		}
		keys, err := ServicesForPod(services, pod.Namespace, labels.Set(pod.Labels))
		if err != nil {
			logger.Error("services of pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			return
		}
		for key := range keys {
			add(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: added,
		UpdateFunc: func(old, cur interface{}) {
			for _, key := range ServicesToUpdateOnPodChange(services, old, cur) {
				add(key)
			}
		},
		DeleteFunc: added,
	}
}

// ServicesForPod returns the keys of the Services of a namespace whose
// selector matches podLabels (a nil selector matches nothing).
func ServicesForPod(services corelisters.ServiceLister, namespace string, podLabels labels.Set) (map[string]bool, error) {
	list, err := services.Services(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, svc := range list {
		if svc.Spec.Selector == nil {
			continue
		}
		if labels.ValidatedSetSelector(svc.Spec.Selector).Matches(podLabels) {
			out[svc.Namespace+"/"+svc.Name] = true
		}
	}
	return out, nil
}

// ServicesToUpdateOnPodChange returns the keys of the Services a pod
// update concerns: none when nothing endpoints show changed; when its
// labels changed, those it joined or left (and, if its endpoint changed
// too, those it stays in).
func ServicesToUpdateOnPodChange(services corelisters.ServiceLister, old, cur interface{}) []string {
	oldPod, ok1 := old.(*corev1.Pod)
	newPod, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 || oldPod.ResourceVersion == newPod.ResourceVersion {
		return nil
	}
	podChanged, labelsChanged := podEndpointsChanged(oldPod, newPod)
	if !podChanged && !labelsChanged {
		return nil
	}
	now, err := ServicesForPod(services, newPod.Namespace, labels.Set(newPod.Labels))
	if err != nil {
		return nil
	}
	if labelsChanged {
		before, err := ServicesForPod(services, newPod.Namespace, labels.Set(oldPod.Labels))
		if err != nil {
			return nil
		}
		for k := range before {
			switch {
			case podChanged:
				now[k] = true
			case now[k]:
				delete(now, k) // in both, and its endpoint is the same
			default:
				now[k] = true
			}
		}
	}
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	return keys
}

// podEndpointsChanged reports whether a pod changed in a way its endpoints
// show, and whether its labels (or hostname/subdomain) changed.
func podEndpointsChanged(oldPod, newPod *corev1.Pod) (bool, bool) {
	labelsChanged := !reflect.DeepEqual(newPod.Labels, oldPod.Labels) ||
		newPod.Spec.Hostname != oldPod.Spec.Hostname || newPod.Spec.Subdomain != oldPod.Spec.Subdomain
	if (newPod.DeletionTimestamp == nil) != (oldPod.DeletionTimestamp == nil) ||
		newPod.DeletionTimestamp != nil && !newPod.DeletionTimestamp.Equal(oldPod.DeletionTimestamp) {
		return true, labelsChanged
	}
	if IsPodReady(oldPod) != IsPodReady(newPod) {
		return true, labelsChanged
	}
	if len(oldPod.Status.PodIPs) != len(newPod.Status.PodIPs) {
		return true, labelsChanged
	}
	for i := range oldPod.Status.PodIPs {
		if oldPod.Status.PodIPs[i].IP != newPod.Status.PodIPs[i].IP {
			return true, labelsChanged
		}
	}
	return false, labelsChanged
}
