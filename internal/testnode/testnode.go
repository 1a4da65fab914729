// Package testnode gives a test a container runtime of its own: a private
// containerd (through the agent's supervisor), the built-in images in a
// test registry that every image name resolves to, and a pod network on a
// bridge and subnet of its own. Everything is removed when the test ends.
package testnode

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/containerd"
	"berth/agent/network"
	"berth/images"
	"berth/internal/testimages"
)

// Node is a container runtime for one test.
type Node struct {
	// Dir is the test's directory for the node (short: unix sockets).
	Dir        string
	Containerd *containerd.Containerd
	Runtime    runtimeapi.RuntimeServiceClient
	Images     runtimeapi.ImageServiceClient
	Registry   *testimages.Registry
	// Subnet and Bridge are the node's pod network.
	Subnet, Bridge string
}

// Start runs a container runtime for the test, or skips the test when
// containerd is not installed.
func Start(t testing.TB) *Node {
	t.Helper()
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd is not installed (hack/deps.sh installs it)")
	}
	dir, err := os.MkdirTemp("", "btn")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Dir: dir, Registry: testimages.Start(t)}
	id := rand.IntN(1 << 16)
	n.Subnet = fmt.Sprintf("10.%d.%d.0/24", 200+id%50, id>>8)
	n.Bridge = fmt.Sprintf("btn%04x", id)
	cniDir := filepath.Join(dir, "cni")
	if err := network.WriteConflist(cniDir, network.CNIConfig{Name: n.Bridge, Bridge: n.Bridge, Subnet: n.Subnet, IPAMDir: filepath.Join(dir, "ipam")}); err != nil {
		t.Fatal(err)
	}
	c, err := containerd.New(containerd.Config{Dir: filepath.Join(dir, "ctd"), SandboxImage: images.Pause, CNIConfDir: cniDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MirrorAll("http://"+n.Registry.Host, ""); err != nil {
		t.Fatal(err)
	}
	n.Containerd = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("containerd: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("containerd not ready within 30s")
	}
	conn, err := grpc.NewClient(c.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	n.Runtime = runtimeapi.NewRuntimeServiceClient(conn)
	n.Images = runtimeapi.NewImageServiceClient(conn)
	t.Cleanup(func() {
		n.removeSandboxes()
		conn.Close()
		cancel()
		<-done
		exec.Command("ip", "link", "delete", n.Bridge).Run()
		// Mounts under the directory go with containerd's shutdown; remove
		// what is left.
		os.RemoveAll(dir)
	})
	return n
}

// removeSandboxes stops and removes every pod sandbox.
func (n *Node) removeSandboxes() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := n.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, sb := range list.Items {
		n.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
		n.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
	}
}
