package stats_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"berth/agent/server/servertest"
	"berth/agent/stats"
	"berth/internal/testnode"
)

// A pod burning CPU in a cgroup of its own shows up with its CPU rate and
// memory, read through CRI from containerd.
func TestCollectorWithContainerd(t *testing.T) {
	n := testnode.Start(t)
	uid := fmt.Sprintf("uid-%d", time.Now().UnixNano())
	parent := filepath.Join("/berth-test", "pod"+uid)
	pod := servertest.RunPod(t, n.Runtime, n.Images, filepath.Join(n.Dir, "logs"),
		servertest.Sandbox{Namespace: "default", Name: "burner", UID: uid, CgroupParent: parent})
	pod.Start(t, servertest.Container{Name: "spin", Args: []string{"sh", "-c", "while true; do :; done"}})
	c, err := stats.New(stats.Config{NodeName: "node1", Runtime: n.Runtime, FsDir: n.Dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := c.Summary(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Pods) != 1 {
			t.Fatalf("pods %+v", s.Pods)
		}
		p := s.Pods[0]
		if p.PodRef != (stats.PodReference{Name: "burner", Namespace: "default", UID: uid}) || len(p.Containers) != 1 || p.Containers[0].Name != "spin" {
			t.Fatalf("pod %+v", p)
		}
		if p.CPU != nil && p.CPU.UsageNanoCores != nil && p.Containers[0].CPU.UsageNanoCores != nil {
			// A busy loop uses a good part of a core, even on a machine
			// busy with other tests.
			if *p.CPU.UsageNanoCores < 50e6 || *p.Containers[0].CPU.UsageNanoCores < 50e6 {
				t.Errorf("pod %d nanocores, container %d", *p.CPU.UsageNanoCores, *p.Containers[0].CPU.UsageNanoCores)
			}
			if p.Memory == nil || *p.Memory.WorkingSetBytes == 0 || p.Network == nil || p.Network.Name != "eth0" {
				t.Errorf("pod memory %+v network %+v", p.Memory, p.Network)
			}
			if s.Node.CPU.UsageNanoCores == nil || *s.Node.CPU.UsageNanoCores < *p.CPU.UsageNanoCores/2 {
				t.Errorf("node cpu %+v", s.Node.CPU)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CPU rate after 20s: %+v", p.CPU)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
