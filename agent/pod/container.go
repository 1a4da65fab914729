package pod

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// containerHash is what identifies a container's definition: a change
// (an image update of the pod) restarts the container.
func containerHash(c *corev1.Container) string {
	h := fnv.New32a()
	h.Write([]byte(c.Image))
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// startContext is what the configuration of a container needs besides
// the pod and the container.
type startContext struct {
	sandboxID    string
	sandbox      *runtimeapi.PodSandboxConfig
	podIPs       []string
	volumes      map[string]string // host path by volume name
	image        image
	restartCount int32
}

// containerConfig is the CRI configuration of container c, as the
// kubelet makes it. Its errors are the container's
// CreateContainerConfigError messages.
func (m *Manager) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sc *startContext) (*runtimeapi.ContainerConfig, error) {
	env, err := makeEnv(ctx, pod, c, m.envSource(pod, sc.podIPs))
	if err != nil {
		return nil, err
	}
	if err := verifyRunAsNonRoot(pod, c, sc.image.uid, sc.image.username); err != nil {
		return nil, err
	}
	lookup := lookupIn(env.values)
	expandAll := func(list []string) []string {
		var out []string
		for _, s := range list {
			out = append(out, expand(s, lookup))
		}
		return out
	}
	mounts, err := m.mounts(pod, c, sc, lookup)
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(sc.sandbox.LogDirectory, c.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("create container log directory: %w", err)
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(sc.restartCount)},
		Image:      &runtimeapi.ImageSpec{Image: sc.image.ref, UserSpecifiedImage: c.Image},
		Command:    expandAll(c.Command),
		Args:       expandAll(c.Args),
		WorkingDir: c.WorkingDir,
		Labels: map[string]string{
			LabelPodName: pod.Name, LabelPodNamespace: pod.Namespace, LabelPodUID: string(pod.UID), LabelContainerName: c.Name,
		},
		Annotations: map[string]string{
			AnnotationRestartCount:      strconv.Itoa(int(sc.restartCount)),
			annotationHash:              containerHash(c),
			annotationTermMessagePath:   c.TerminationMessagePath,
			annotationTermMessagePolicy: string(c.TerminationMessagePolicy),
			annotationPodGracePeriod:    gracePeriodAnnotation(pod),
		},
		Mounts:    mounts,
		LogPath:   filepath.Join(c.Name, strconv.Itoa(int(sc.restartCount))+".log"),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       containerResources(pod, c, m.memoryCapacity()),
			SecurityContext: securityContext(pod, c, sc.image, filepath.Dir(m.cfg.PodDir)),
		},
	}
	for _, name := range env.names {
		cfg.Envs = append(cfg.Envs, &runtimeapi.KeyValue{Key: name, Value: env.values[name]})
	}
	return cfg, nil
}

// mounts are the container's volume mounts, its /etc/hosts and its
// termination message file, in the kubelet's order.
func (m *Manager) mounts(pod *corev1.Pod, c *corev1.Container, sc *startContext, lookup func(string) (string, bool)) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	mountHosts := len(sc.podIPs) > 0 || pod.Spec.HostNetwork
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == "/etc/hosts" {
			mountHosts = false
		}
		host, ok := sc.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, lookup)
		}
		if sub != "" {
			if path.IsAbs(sub) {
				return nil, fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
			}
			for _, part := range strings.Split(sub, "/") {
				if part == ".." {
					return nil, fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
				}
			}
			full := filepath.Join(host, sub)
			if _, err := os.Lstat(full); os.IsNotExist(err) {
				perm := os.FileMode(0o755)
				if fi, err := os.Stat(host); err == nil {
					perm = fi.Mode().Perm()
				}
				if err := os.MkdirAll(full, perm); err != nil {
					return nil, fmt.Errorf("failed to create subPath directory for volumeMount %q of container %q", vm.Name, c.Name)
				}
			}
			host = full
		}
		mnt := &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: host, Readonly: vm.ReadOnly}
		if p := vm.MountPropagation; p != nil {
			switch *p {
			case corev1.MountPropagationHostToContainer:
				mnt.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				mnt.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			case corev1.MountPropagationNone:
			default:
				return nil, fmt.Errorf("invalid MountPropagation mode: %q", *p)
			}
		}
		out = append(out, mnt)
	}
	if mountHosts {
		file, err := m.writeHostsFile(pod, sc.podIPs)
		if err != nil {
			return nil, fmt.Errorf("write the pod's hosts file: %w", err)
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: file})
	}
	if c.TerminationMessagePath != "" {
		file, err := m.terminationFile(pod, c)
		if err != nil {
			return nil, err
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: file})
	}
	return out, nil
}

// terminationFile makes the file an instance of the container writes its
// termination message to: <PodDir>/<uid>/containers/<name>/<random>.
func (m *Manager) terminationFile(pod *corev1.Pod, c *corev1.Container) (string, error) {
	dir := filepath.Join(m.podDir(pod.UID), "containers", c.Name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create termination message directory: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	file := filepath.Join(dir, hex.EncodeToString(b[:]))
	if err := os.WriteFile(file, nil, 0o666); err != nil {
		return "", fmt.Errorf("create termination message file: %w", err)
	}
	return file, os.Chmod(file, 0o666)
}

// verifyRunAsNonRoot enforces runAsNonRoot with the kubelet's messages.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, uid *int64, username string) error {
	runAsNonRoot, runAsUser := effectiveUser(pod, c)
	if runAsNonRoot == nil || !*runAsNonRoot {
		return nil
	}
	if runAsUser != nil {
		if *runAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", formatPod(pod), c.Name)
		}
		return nil
	}
	switch {
	case uid != nil && *uid == 0, uid == nil && username == "":
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name)
	case uid == nil && username != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", username, formatPod(pod), c.Name)
	}
	return nil
}

// effectiveUser returns runAsNonRoot and runAsUser of the container,
// its own or else the pod's.
func effectiveUser(pod *corev1.Pod, c *corev1.Container) (*bool, *int64) {
	var nonRoot *bool
	var user *int64
	if psc := pod.Spec.SecurityContext; psc != nil {
		nonRoot, user = psc.RunAsNonRoot, psc.RunAsUser
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsNonRoot != nil {
			nonRoot = csc.RunAsNonRoot
		}
		if csc.RunAsUser != nil {
			user = csc.RunAsUser
		}
	}
	return nonRoot, user
}

// securityContext is the CRI security context of a container: its own
// settings over the pod's, as the kubelet merges them. seccompRoot holds
// Localhost seccomp profiles.
func securityContext(pod *corev1.Pod, c *corev1.Container, img image, seccompRoot string) *runtimeapi.LinuxContainerSecurityContext {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	out := &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions:   namespaces(pod),
		SupplementalGroups: supplementalGroups(psc),
		Privileged:         csc.Privileged != nil && *csc.Privileged,
		ReadonlyRootfs:     csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem,
		NoNewPrivs:         csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation,
	}
	_, user := effectiveUser(pod, c)
	switch {
	case user != nil:
		out.RunAsUser = &runtimeapi.Int64Value{Value: *user}
	case img.uid != nil:
		out.RunAsUser = &runtimeapi.Int64Value{Value: *img.uid}
	case img.username != "":
		out.RunAsUsername = img.username
	}
	group := psc.RunAsGroup
	if csc.RunAsGroup != nil {
		group = csc.RunAsGroup
	}
	if group != nil {
		out.RunAsGroup = &runtimeapi.Int64Value{Value: *group}
	}
	if caps := csc.Capabilities; caps != nil {
		out.Capabilities = &runtimeapi.Capability{}
		for _, a := range caps.Add {
			out.Capabilities.AddCapabilities = append(out.Capabilities.AddCapabilities, string(a))
		}
		for _, d := range caps.Drop {
			out.Capabilities.DropCapabilities = append(out.Capabilities.DropCapabilities, string(d))
		}
	}
	profile := psc.SeccompProfile
	if csc.SeccompProfile != nil {
		profile = csc.SeccompProfile
	}
	out.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	if profile != nil {
		switch profile.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			out.Seccomp.ProfileType = runtimeapi.SecurityProfile_RuntimeDefault
		case corev1.SeccompProfileTypeLocalhost:
			if profile.LocalhostProfile != nil {
				out.Seccomp = &runtimeapi.SecurityProfile{
					ProfileType:  runtimeapi.SecurityProfile_Localhost,
					LocalhostRef: filepath.Join(seccompRoot, "seccomp", *profile.LocalhostProfile),
				}
			}
		}
	}
	return out
}
