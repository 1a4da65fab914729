package pod

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// logDir is the pod's log directory: <LogDir>/<ns>_<name>_<uid>.
func (m *Manager) logDir(namespace, name string, uid types.UID) string {
	return filepath.Join(m.cfg.LogDir, namespace+"_"+name+"_"+string(uid))
}

// podDir is the directory of the files the manager makes for the pod.
func (m *Manager) podDir(uid types.UID) string { return filepath.Join(m.cfg.PodDir, string(uid)) }

func podLabels(pod *corev1.Pod) map[string]string {
	labels := make(map[string]string, len(pod.Labels)+3)
	for k, v := range pod.Labels {
		labels[k] = v
	}
	labels[LabelPodName] = pod.Name
	labels[LabelPodNamespace] = pod.Namespace
	labels[LabelPodUID] = string(pod.UID)
	return labels
}

// namespaces are the Linux namespaces of the pod's containers.
func namespaces(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

func hasPrivileged(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
				return true
			}
		}
	}
	return false
}

// sandboxConfig is the CRI configuration of the pod's sandbox, as the
// kubelet makes it.
func (m *Manager) sandboxConfig(pod *corev1.Pod, attempt uint32) *runtimeapi.PodSandboxConfig {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt,
		},
		LogDirectory: m.logDir(pod.Namespace, pod.Name, pod.UID),
		DnsConfig:    m.dnsConfig(pod),
		Labels:       podLabels(pod),
		Annotations:  map[string]string{},
	}
	cfg.Labels[labelNode] = m.cfg.NodeName
	for k, v := range pod.Annotations {
		cfg.Annotations[k] = v
	}
	if !pod.Spec.HostNetwork {
		hostname, domain := m.hostnameAndDomain(pod)
		if pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN && domain != "" {
			hostname = hostname + "." + domain
		}
		cfg.Hostname = hostname
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP,
			})
		}
	}
	lc := &runtimeapi.LinuxPodSandboxConfig{
		CgroupParent: m.cg.Name(pod.UID),
		SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: namespaces(pod),
			Privileged:       hasPrivileged(pod),
			Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
		},
		Sysctls: map[string]string{},
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		for _, s := range sc.Sysctls {
			lc.Sysctls[s.Name] = s.Value
		}
		if sc.RunAsUser != nil {
			lc.SecurityContext.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
		}
		if sc.RunAsGroup != nil {
			lc.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
		}
		lc.SecurityContext.SupplementalGroups = supplementalGroups(sc)
	}
	cfg.Linux = lc
	return cfg
}

// supplementalGroups are the pod's fsGroup and supplementalGroups.
func supplementalGroups(sc *corev1.PodSecurityContext) []int64 {
	if sc == nil {
		return nil
	}
	var groups []int64
	if sc.FSGroup != nil {
		groups = append(groups, *sc.FSGroup)
	}
	return append(groups, sc.SupplementalGroups...)
}

// createSandbox runs a sandbox for the pod and returns its ID.
func (m *Manager) createSandbox(ctx context.Context, pod *corev1.Pod, attempt uint32) (string, error) {
	cfg := m.sandboxConfig(pod, attempt)
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return "", fmt.Errorf("create pod log directory: %w", err)
	}
	// A few sandboxes at a time: under a burst, pods then come up one
	// after another instead of all late together.
	select {
	case m.sandboxSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	resp, err := m.cfg.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	<-m.sandboxSlots
	if err != nil {
		return "", err
	}
	return resp.PodSandboxId, nil
}

// gracePeriodAnnotation records the pod's grace period on its containers,
// for stopping them when the pod is gone from the API.
func gracePeriodAnnotation(pod *corev1.Pod) string {
	g := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	return strconv.FormatInt(g, 10)
}
