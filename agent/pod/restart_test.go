package pod_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"berth/agent/pod"
)

// A new pod manager adopts what runs: nothing is restarted because the
// agent was; a container that died meanwhile is restarted by its policy;
// a pod deleted meanwhile is removed. StopAll then stops everything, and
// the pods come back with the next manager (berth up run again).
func TestAgentRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.create(busybox("steady", "exec sleep 3600"))
	b := c.create(busybox("dies", "exec sleep 3600"))
	gone := c.create(busybox("gone", "exec sleep 3600"))
	a = c.waitFor("steady", 30*time.Second, "running", running)
	b = c.waitFor("dies", 30*time.Second, "running", running)
	c.waitFor("gone", 30*time.Second, "running", running)
	time.Sleep(1500 * time.Millisecond) // let the relist settle
	a = c.get("steady")

	c.stop()
	id := strings.TrimPrefix(b.Status.ContainerStatuses[0].ContainerID, "containerd://")
	procs := readCgroup(t, filepath.Join("/sys/fs/cgroup/pids", c.cfg.CgroupParent, "pod"+string(b.UID), id, "cgroup.procs"))
	for _, f := range strings.Fields(procs) {
		pid, _ := strconv.Atoi(f)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// A pod force-deleted while the agent was away.
	if err := c.client.CoreV1().Pods(c.ns).Delete(context.Background(), "gone", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	c.start()

	b = c.waitFor("dies", 30*time.Second, "restarted", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses[0]
		return running(p) && cs.RestartCount == 1 && cs.LastTerminationState.Terminated != nil &&
			cs.LastTerminationState.Terminated.ExitCode == 137
	})
	time.Sleep(1500 * time.Millisecond)
	now := c.get("steady")
	if now.ResourceVersion != a.ResourceVersion {
		t.Errorf("the status of an adopted pod changed:\nbefore %s\nafter  %s", statusString(a), statusString(now))
	}
	if got := now.Status.ContainerStatuses[0]; got.ContainerID != a.Status.ContainerStatuses[0].ContainerID || got.RestartCount != 0 {
		t.Errorf("adopted container restarted: %s", statusString(now))
	}
	if n := len(c.containers(a.UID)); n != 1 {
		t.Errorf("%d containers for the adopted pod", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(c.sandboxes(gone.UID)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox of a pod deleted while the agent was away is still there")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", c.cfg.CgroupParent, "pod"+string(gone.UID))); !os.IsNotExist(err) {
		t.Errorf("cgroup of the deleted pod: %v", err)
	}

	// Node admission: more CPU than the node has.
	big := busybox("big", "exec sleep 3600")
	big.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	big = c.create(big)
	big = c.waitFor("big", 30*time.Second, "rejected", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if st := big.Status; st.Reason != "OutOfcpu" || st.Message != "Pod was rejected: Node didn't have enough resource: cpu, requested: 4000, used: 0, capacity: 2000" ||
		len(st.ContainerStatuses) != 0 || len(c.sandboxes(big.UID)) != 0 {
		t.Errorf("rejected pod: %s", statusString(big))
	}
	if _, status, _ := c.kubectlGet("big"); status != "OutOfcpu" {
		t.Errorf("kubectl shows %s", status)
	}
	c.waitEvent(big, "OutOfcpu", "Node didn't have enough resource: cpu, requested: 4000, used: 0, capacity: 2000", 10*time.Second)

	// An orderly shutdown stops everything and leaves nothing behind.
	c.stop()
	mgr, err := pod.New(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := mgr.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := c.node.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("sandboxes left: %v %v", list, err)
	}
	for _, ctrl := range []string{"memory", "cpu", "pids", "cpuset"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, c.cfg.CgroupParent)); !os.IsNotExist(err) {
			t.Errorf("%s cgroup %s left: %v", ctrl, c.cfg.CgroupParent, err)
		}
	}

	c.start()
	c.waitFor("steady", 30*time.Second, "running again", func(p *corev1.Pod) bool {
		return running(p) && p.Status.ContainerStatuses[0].RestartCount == 1
	})
}
