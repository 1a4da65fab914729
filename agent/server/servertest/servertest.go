// Package servertest helps tests of the agent's endpoint and of the API
// server's proxy to it: a CA that issues the certificates involved, and
// pods run on a testnode the way the pod manager runs them (the kubelet's
// labels, annotations and log paths), so that logs, exec, attach,
// port-forward and stats find them.
package servertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/pki"
)

// CA issues certificates for a test.
type CA struct {
	CA *pki.CA
}

// NewCA makes a CA in the test's temporary directory.
func NewCA(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	return &CA{CA: ca}
}

// LoadCA uses an existing CA, e.g. a test server's cluster CA.
func LoadCA(t testing.TB, certFile, keyFile string) *CA {
	t.Helper()
	ca, err := pki.LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{CA: ca}
}

// Issue returns a key pair for l.
func (c *CA) Issue(t testing.TB, l pki.Leaf) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := c.CA.Issue(l, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// Pool is a pool holding the CA's certificate.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.CA.Cert)
	return p
}

// Labels and annotations of the pod manager (the kubelet's).
const (
	LabelPodName           = "io.kubernetes.pod.name"
	LabelPodNamespace      = "io.kubernetes.pod.namespace"
	LabelPodUID            = "io.kubernetes.pod.uid"
	LabelContainerName     = "io.kubernetes.container.name"
	AnnotationRestartCount = "io.kubernetes.container.restartCount"
)

// Pod is a pod running in a test's container runtime.
type Pod struct {
	Namespace, Name, UID string
	SandboxID            string
	config               *runtimeapi.PodSandboxConfig
	rt                   runtimeapi.RuntimeServiceClient
	images               runtimeapi.ImageServiceClient
}

// Container is a container to start in a Pod.
type Container struct {
	Name  string
	Image string // default "busybox"
	// Args are the arguments of the image's entrypoint.
	Args  []string
	Stdin bool
	// Attempt is the restart count of this instance.
	Attempt int
}

// Sandbox describes a pod to run.
type Sandbox struct {
	Namespace, Name, UID string
	// CgroupParent, if set, puts the pod in a cgroup of its own (as the
	// pod manager does), e.g. "/berth-test/podUID". The pod is then removed
	// and the cgroup deleted when the test ends, before the runtime stops.
	CgroupParent string
}

// RunPod starts a pod sandbox with the pod manager's conventions; its
// containers' logs go under logsDir.
func RunPod(t testing.TB, rt runtimeapi.RuntimeServiceClient, images runtimeapi.ImageServiceClient, logsDir string, s Sandbox) *Pod {
	t.Helper()
	labels := map[string]string{LabelPodName: s.Name, LabelPodNamespace: s.Namespace, LabelPodUID: s.UID}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: s.Name, Namespace: s.Namespace, Uid: s.UID},
		Hostname:     s.Name,
		LogDirectory: filepath.Join(logsDir, fmt.Sprintf("%s_%s_%s", s.Namespace, s.Name, s.UID)),
		Labels:       labels,
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: s.CgroupParent},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("run sandbox of %s/%s: %v", s.Namespace, s.Name, err)
	}
	if s.CgroupParent != "" {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId})
			rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId})
			removeCgroup(t, s.CgroupParent)
		})
	}
	return &Pod{Namespace: s.Namespace, Name: s.Name, UID: s.UID, SandboxID: sb.PodSandboxId, config: cfg, rt: rt, images: images}
}

// removeCgroup deletes a cgroup and its empty parents up to the root, in
// every hierarchy (cgroup v1) or the unified one (v2). A parent still in
// use (by a test running beside this one) stays.
func removeCgroup(t testing.TB, cgroup string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	cgroup = filepath.Clean(cgroup)
	for _, root := range roots {
		for dir := cgroup; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			p := filepath.Join(root, dir)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if err := os.Remove(p); err != nil {
				if dir == cgroup || !errors.Is(err, syscall.EBUSY) {
					t.Logf("remove cgroup %s: %v", p, err)
				}
				break
			}
		}
	}
}

// Start creates and starts a container instance and returns its ID.
func (p *Pod) Start(t testing.TB, c Container) string {
	t.Helper()
	if c.Image == "" {
		c.Image = "busybox"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: c.Image}}); err != nil {
		t.Fatalf("pull %s: %v", c.Image, err)
	}
	labels := map[string]string{LabelPodName: p.Name, LabelPodNamespace: p.Namespace, LabelPodUID: p.UID, LabelContainerName: c.Name}
	resp, err := p.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.SandboxID, SandboxConfig: p.config, Config: &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(c.Attempt)},
		Image:       &runtimeapi.ImageSpec{Image: c.Image},
		Args:        c.Args,
		Envs:        []*runtimeapi.KeyValue{{Key: "POD_NAME", Value: p.Name}},
		Stdin:       c.Stdin,
		LogPath:     fmt.Sprintf("%s/%d.log", c.Name, c.Attempt),
		Labels:      labels,
		Annotations: map[string]string{AnnotationRestartCount: strconv.Itoa(c.Attempt)},
		Linux:       &runtimeapi.LinuxContainerConfig{},
	}})
	if err != nil {
		t.Fatalf("create container %s in %s: %v", c.Name, p.Name, err)
	}
	if _, err := p.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("start container %s in %s: %v", c.Name, p.Name, err)
	}
	return resp.ContainerId
}

// WaitExited waits until a container has exited.
func (p *Pod) WaitExited(t testing.TB, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := p.rt.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %v after 30s", id, st.Status.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
