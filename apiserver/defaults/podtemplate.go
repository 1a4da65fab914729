package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// PodTemplateSpec sets Kubernetes' defaults on a pod template: those of its
// pod spec. Defaults that Kubernetes applies only to pods (requests copied
// from limits, enableServiceLinks, host ports under hostNetwork) are left to
// the pod when it is created from the template.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	PodSpec(&t.Spec)
}

// PodSpec sets Kubernetes' defaults on a pod spec, including everything nested
// in it: containers (init, regular and ephemeral), probes, lifecycle handlers,
// ports, environment, volumes and resource quantities.
func PodSpec(s *corev1.PodSpec) {
	if s == nil {
		return
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.TerminationGracePeriodSeconds == nil {
		period := int64(corev1.DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &period
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	// The deprecated serviceAccount field mirrors serviceAccountName, as
	// Kubernetes' v1 conversion makes it.
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = s.DeprecatedServiceAccount
	}
	s.DeprecatedServiceAccount = s.ServiceAccountName
	for i := range s.Volumes {
		volume(&s.Volumes[i])
	}
	for i := range s.InitContainers {
		container(&s.InitContainers[i])
	}
	for i := range s.Containers {
		container(&s.Containers[i])
	}
	for i := range s.EphemeralContainers {
		container((*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon))
	}
	ResourceList(s.Overhead)
	if s.Resources != nil {
		ResourceList(s.Resources.Limits)
		ResourceList(s.Resources.Requests)
	}
}

// Pod sets Kubernetes' defaults on a pod: the pod-only defaults of
// SetDefaults_Pod followed by those of its spec. Container requests default
// to the limits where only limits are given, enableServiceLinks defaults to
// true, and with hostNetwork every container port without a hostPort gets
// hostPort = containerPort.
func Pod(p *corev1.Pod) {
	if p == nil {
		return
	}
	requestsFromLimits(p.Spec.Containers)
	requestsFromLimits(p.Spec.InitContainers)
	if p.Spec.EnableServiceLinks == nil {
		enable := corev1.DefaultEnableServiceLinks
		p.Spec.EnableServiceLinks = &enable
	}
	if p.Spec.HostNetwork {
		hostNetworkPorts(p.Spec.Containers)
		hostNetworkPorts(p.Spec.InitContainers)
	}
	PodSpec(&p.Spec)
}

// requestsFromLimits copies each limit to the requests when that resource
// has no request.
func requestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		res := &containers[i].Resources
		if res.Limits == nil {
			continue
		}
		if res.Requests == nil {
			res.Requests = make(corev1.ResourceList, len(res.Limits))
		}
		for name, limit := range res.Limits {
			if _, ok := res.Requests[name]; !ok {
				res.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

// hostNetworkPorts sets hostPort = containerPort where hostPort is unset.
func hostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			port := &containers[i].Ports[j]
			if port.HostPort == 0 {
				port.HostPort = port.ContainerPort
			}
		}
	}
}
