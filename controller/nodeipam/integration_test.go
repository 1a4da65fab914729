package nodeipam_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/nodeipam"
	"berth/internal/testserver"
)

const timeout = 20 * time.Second

func run(t *testing.T, s *testserver.Server, cfg nodeipam.Config) {
	t.Helper()
	s.RunControllers(t, controller.Options{}, func(sh *controller.Shared) (controller.Controller, error) {
		return nodeipam.NewWithConfig(sh, cfg)
	})
}

func createNode(t *testing.T, c kubernetes.Interface, name, cidr string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if cidr != "" {
		n.Spec.PodCIDR = cidr
	}
	if _, err := c.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Error(err)
	}
}

// waitCIDRs waits until every node has a pod CIDR and returns them by node;
// it fails the test if two nodes share one.
func waitCIDRs(t *testing.T, c kubernetes.Interface, want int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, n := range l.Items {
			if n.Spec.PodCIDR != "" {
				if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
					t.Fatalf("node %s: podCIDR %s podCIDRs %v", n.Name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
				}
				got[n.Name] = n.Spec.PodCIDR
			}
		}
		if len(got) == want && len(l.Items) == want {
			owner := map[string]string{}
			for n, cidr := range got {
				if o, ok := owner[cidr]; ok {
					t.Fatalf("%s given to both %s and %s", cidr, o, n)
				}
				owner[cidr] = n
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes have pod CIDRs: %v", len(got), want, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Nodes registering at once all get distinct ranges; a preset one is kept.
func TestConcurrentRegistration(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	// A range a node brings is taken before anything is handed out. (One
	// created while ranges are being handed out may already be given, in
	// Kubernetes too: the allocator cannot know of it.)
	createNode(t, s.Client, "preset", "10.42.3.0/24")
	run(t, s, nodeipam.Config{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			createNode(t, s.Client, fmt.Sprintf("n%02d", i), "")
		}()
	}
	wg.Wait()
	got := waitCIDRs(t, s.Client, 21)
	if got["preset"] != "10.42.3.0/24" {
		t.Errorf("preset node has %s", got["preset"])
	}
}

// A restarted allocator (a new leader) gives nothing twice: the ranges of
// existing nodes are taken before new nodes get theirs.
func TestRestart(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	t.Run("first", func(t *testing.T) {
		run(t, s, nodeipam.Config{})
		// Old nodes sort after the new ones: the informer lists them last.
		for _, n := range []string{"z1", "z2", "z3"} {
			createNode(t, s.Client, n, "")
		}
		waitCIDRs(t, s.Client, 3)
	}) // the allocator stops here
	for _, n := range []string{"a1", "a2", "a3", "a4"} {
		createNode(t, s.Client, n, "")
	}
	run(t, s, nodeipam.Config{})
	got := waitCIDRs(t, s.Client, 7)
	t.Logf("ranges: %v", got)
}

// A full cluster CIDR: the node gets the CIDRNotAvailable event, then the
// range of a deleted node.
func TestFullRange(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx := context.Background()
	run(t, s, nodeipam.Config{ClusterCIDR: "10.42.0.0/23", NodeCIDRMaskSize: 24})
	createNode(t, s.Client, "a", "")
	createNode(t, s.Client, "b", "")
	got := waitCIDRs(t, s.Client, 2)
	createNode(t, s.Client, "c", "")
	deadline := time.Now().Add(timeout)
	for {
		l, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=c"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range l.Items {
			if e.Reason == "CIDRNotAvailable" && e.Type == corev1.EventTypeNormal && e.InvolvedObject.Kind == "Node" &&
				e.Source.Component == "cidrAllocator" && e.Message == "Node c status is now: CIDRNotAvailable" {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CIDRNotAvailable event: %+v", l.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Client.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	after := waitCIDRs(t, s.Client, 2)
	if after["c"] != got["b"] {
		t.Errorf("c got %q, want b's released %s", after["c"], got["b"])
	}
}
