package dnsendpoints_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/dnsendpoints"
	"berth/controller/endpoints"
	"berth/controller/endpointslice"
	"berth/controller/nodeipam"
	"berth/internal/testserver"
)

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func setReady(t *testing.T, c kubernetes.Interface, name string, ready bool) {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// state is "node=addr/ready" of the kube-dns slices' endpoints, sorted,
// and of the Endpoints ("addr" ready, "addr?" not ready).
func state(t *testing.T, c kubernetes.Interface) ([]string, []string) {
	t.Helper()
	ctx := context.Background()
	l, err := c.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	var fromSlices, fromEndpoints []string
	for _, s := range l.Items {
		if s.Labels[discoveryv1.LabelManagedBy] != dnsendpoints.ManagedBy {
			t.Errorf("slice %s managed by %q: another controller fights over kube-dns", s.Name, s.Labels[discoveryv1.LabelManagedBy])
		}
		for _, e := range s.Endpoints {
			fromSlices = append(fromSlices, fmt.Sprintf("%s=%s/%v", *e.NodeName, e.Addresses[0], *e.Conditions.Ready))
		}
	}
	slices.Sort(fromSlices)
	ep, err := c.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err == nil {
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				fromEndpoints = append(fromEndpoints, a.IP)
			}
			for _, a := range s.NotReadyAddresses {
				fromEndpoints = append(fromEndpoints, a.IP+"?")
			}
		}
	}
	slices.Sort(fromEndpoints)
	return fromSlices, fromEndpoints
}

func expect(t *testing.T, c kubernetes.Interface, slicesWant, endpointsWant []string) {
	t.Helper()
	eventually(t, "kube-dns endpoints", func() error {
		s, e := state(t, c)
		if !slices.Equal(s, slicesWant) || !slices.Equal(e, endpointsWant) {
			return fmt.Errorf("slices %v endpoints %v; want %v %v", s, e, slicesWant, endpointsWant)
		}
		return nil
	})
}

// The server's kube-dns points at the nodes' pod CIDR gateways, with the
// endpoint controllers running beside: they leave the selectorless
// Service alone.
func TestDNSEndpoints(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	c, ctx := s.Client, context.Background()
	svc, err := c.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the server made no kube-dns: %v", err)
	}
	if svc.Spec.Selector != nil || svc.Spec.ClusterIP != "10.43.0.10" {
		t.Fatalf("kube-dns selector %v clusterIP %s", svc.Spec.Selector, svc.Spec.ClusterIP)
	}
	s.RunControllers(t, controller.Options{}, dnsendpoints.New, nodeipam.New, endpoints.New, endpointslice.New)
	for _, n := range []string{"a", "b"} {
		if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "pod CIDRs", func() error {
		for _, n := range []string{"a", "b"} {
			node, err := c.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil || node.Spec.PodCIDR == "" {
				return fmt.Errorf("node %s: %v", n, err)
			}
		}
		return nil
	})
	a, _ := c.CoreV1().Nodes().Get(ctx, "a", metav1.GetOptions{})
	b, _ := c.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
	gw := func(n *corev1.Node) string { return n.Spec.PodCIDR[:len(n.Spec.PodCIDR)-len("0/24")] + "1" }
	setReady(t, c, "a", true)
	expect(t, c, []string{"a=" + gw(a) + "/true", "b=" + gw(b) + "/false"}, sortedOf(gw(a), gw(b)+"?"))

	// The endpoint controllers have had their go: still ours.
	time.Sleep(500 * time.Millisecond)
	expect(t, c, []string{"a=" + gw(a) + "/true", "b=" + gw(b) + "/false"}, sortedOf(gw(a), gw(b)+"?"))

	setReady(t, c, "b", true)
	expect(t, c, []string{"a=" + gw(a) + "/true", "b=" + gw(b) + "/true"}, sortedOf(gw(a), gw(b)))
	if err := c.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, []string{"b=" + gw(b) + "/true"}, []string{gw(b)})
}

func sortedOf(s ...string) []string {
	slices.Sort(s)
	return s
}
