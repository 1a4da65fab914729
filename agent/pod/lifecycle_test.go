package pod_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/agent/pod"
)

// A pod runs and reports its status as the kubelet does; deleted, it is
// stopped, removed from the node and from the API.
func TestPodRunsAndIsDeleted(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	p := c.create(busybox("web", "echo hello; exec sleep 3600"))
	p = c.waitFor("web", 30*time.Second, "running and ready", running)

	st := p.Status
	if st.Phase != corev1.PodRunning || st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("phase %s qos %s", st.Phase, st.QOSClass)
	}
	if ip, err := netip.ParseAddr(st.PodIP); err != nil || !netip.MustParsePrefix(c.node.Subnet).Contains(ip) {
		t.Errorf("podIP %q not in %s", st.PodIP, c.node.Subnet)
	}
	if len(st.PodIPs) != 1 || st.PodIPs[0].IP != st.PodIP || st.HostIP != "192.0.2.10" || len(st.HostIPs) != 1 {
		t.Errorf("podIPs %v hostIP %q hostIPs %v", st.PodIPs, st.HostIP, st.HostIPs)
	}
	if st.StartTime == nil {
		t.Error("no startTime")
	}
	want := map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.PodReady: "True",
		corev1.ContainersReady: "True", corev1.PodScheduled: "True",
	}
	if len(st.Conditions) != len(want) {
		t.Errorf("conditions %v", st.Conditions)
	}
	for _, cond := range st.Conditions {
		if want[cond.Type] != cond.Status || cond.LastTransitionTime.IsZero() {
			t.Errorf("condition %s = %s (at %v)", cond.Type, cond.Status, cond.LastTransitionTime)
		}
	}
	if len(st.ContainerStatuses) != 1 {
		t.Fatalf("container statuses %v", st.ContainerStatuses)
	}
	cs := st.ContainerStatuses[0]
	if cs.Name != "c" || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 || cs.Image != "busybox" ||
		!strings.Contains(cs.ImageID, "@sha256:") || !strings.HasPrefix(cs.ContainerID, "containerd://") ||
		cs.State.Running == nil || cs.State.Running.StartedAt.IsZero() || cs.LastTerminationState != (corev1.ContainerState{}) || cs.Resources == nil {
		t.Errorf("container status %+v", cs)
	}
	if ready, status, restarts := c.kubectlGet("web"); ready != "1/1" || status != "Running" || restarts != "0" {
		t.Errorf("kubectl: READY %s STATUS %s RESTARTS %s", ready, status, restarts)
	}
	for reason, msg := range map[string]string{
		"Pulled": `Successfully pulled image "busybox" in `, "Created": "Created container: c", "Started": "Started container c",
	} {
		c.waitEvent(p, reason, msg, 10*time.Second)
	}
	if got := c.logs(p, "c", 0); got != "hello\n" {
		t.Errorf("log %q", got)
	}
	sbs := c.sandboxes(p.UID)
	if len(sbs) != 1 || sbs[0].Labels[pod.LabelPodName] != "web" || sbs[0].Labels[pod.LabelPodNamespace] != c.ns {
		t.Errorf("sandboxes %v", sbs)
	}
	ctrs := c.containers(p.UID)
	if len(ctrs) != 1 || ctrs[0].Labels[pod.LabelContainerName] != "c" || ctrs[0].Annotations[pod.AnnotationRestartCount] != "0" ||
		ctrs[0].Metadata.Name != "c" || "containerd://"+ctrs[0].Id != cs.ContainerID {
		t.Errorf("containers %v", ctrs)
	}
	cgroup := filepath.Join("/sys/fs/cgroup/memory", c.cfg.CgroupParent, "pod"+string(p.UID))
	if _, err := os.Stat(cgroup); err != nil {
		t.Errorf("pod cgroup: %v", err)
	}

	// The status is not written again while nothing changes.
	rv := p.ResourceVersion
	time.Sleep(2500 * time.Millisecond)
	if again := c.get("web"); again.ResourceVersion != rv {
		t.Errorf("status rewritten with nothing changed: %s", statusString(again))
	}

	start := time.Now()
	if err := c.client.CoreV1().Pods(c.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitGone("web", 30*time.Second)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("deletion took %v (the container stops on SIGTERM)", d)
	}
	if len(c.sandboxes(p.UID)) != 0 || len(c.containers(p.UID)) != 0 {
		t.Error("sandbox or containers left after deletion")
	}
	if _, err := os.Stat(cgroup); !os.IsNotExist(err) {
		t.Errorf("pod cgroup left: %v", err)
	}
	if !c.volumes.tornDown(p.UID) {
		t.Error("volumes not torn down")
	}
	c.waitEvent(p, "Killing", "Stopping container c", 10*time.Second)
}
