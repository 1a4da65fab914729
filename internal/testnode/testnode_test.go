package testnode_test

import (
	"context"
	"net/netip"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/internal/testnode"
)

// A pod sandbox on the node's network gets an address from its subnet.
func TestSandboxGetsAnAddress(t *testing.T) {
	n := testnode.Start(t)
	ctx := context.Background()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "default", Uid: "u1"},
		LogDirectory: n.Dir + "/logs",
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	sb, err := n.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(st.Status.Network.Ip)
	if err != nil || !netip.MustParsePrefix(n.Subnet).Contains(ip) {
		t.Fatalf("sandbox address %q, want one in %s", st.Status.Network.Ip, n.Subnet)
	}
}
