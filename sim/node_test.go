package sim

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestNodeObject(t *testing.T) {
	s, _ := newTestSim(t, Config{Nodes: 3, Zones: 2, Labels: map[string]string{"pool": "a"},
		Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}})
	n := s.order[2]
	node := s.nodeObject(n, t0)
	if node.Name != "sim-2" || node.Spec.PodCIDR != "10.42.2.0/24" || len(node.Spec.PodCIDRs) != 1 || len(node.Spec.Taints) != 1 {
		t.Errorf("node %s spec %+v", node.Name, node.Spec)
	}
	for k, v := range map[string]string{
		"kubernetes.io/hostname": "sim-2", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "zone-0", "pool": "a",
	} {
		if node.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, node.Labels[k], v)
		}
	}
	st := node.Status
	if st.Addresses[0].Address != "172.20.0.3" || st.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("addresses %v endpoints %v", st.Addresses, st.DaemonEndpoints)
	}
	var res []string
	for k, v := range st.Capacity {
		res = append(res, string(k)+"="+v.String())
	}
	sort.Strings(res)
	if got := strings.Join(res, " "); got != "cpu=4 ephemeral-storage=100Gi hugepages-1Gi=0 hugepages-2Mi=0 memory=16Gi pods=110" {
		t.Errorf("capacity %s", got)
	}
	var msgs []string
	for _, c := range st.Conditions {
		msgs = append(msgs, c.Message)
		if !c.LastHeartbeatTime.Time.Equal(t0) || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("%s times %s %s", c.Type, c.LastHeartbeatTime, c.LastTransitionTime)
		}
	}
	if got := strings.Join(msgs, "|"); got != "kubelet has sufficient memory available|kubelet has no disk pressure|kubelet has sufficient PID available|kubelet is posting ready status" {
		t.Errorf("messages %s", got)
	}
	if st.NodeInfo.SystemUUID == "" || st.NodeInfo.MachineID == "" || st.NodeInfo.KernelVersion == "" || st.NodeInfo.OSImage == "" {
		t.Errorf("node info %+v", st.NodeInfo)
	}
}

func TestNodeStatusHeartbeat(t *testing.T) {
	s, _ := newTestSim(t, Config{Nodes: 1})
	n := s.order[0]
	first := s.nodeStatus(n, nil, t0)
	// Ten seconds later nothing changed but the heartbeat.
	next := s.nodeStatus(n, &first, t0.Add(10*time.Second))
	if nodeStatusChanged(&first, &next) {
		t.Error("unchanged status reported as changed")
	}
	for _, c := range next.Conditions {
		if !c.LastTransitionTime.Time.Equal(t0) || !c.LastHeartbeatTime.Time.Equal(t0.Add(10*time.Second)) {
			t.Errorf("%s: transition %s heartbeat %s", c.Type, c.LastTransitionTime, c.LastHeartbeatTime)
		}
	}
	// The node controller marked it Unknown and added its own condition.
	unknown := *next.DeepCopy()
	for i := range unknown.Conditions {
		unknown.Conditions[i].Status = corev1.ConditionUnknown
	}
	unknown.Conditions = append(unknown.Conditions, corev1.NodeCondition{Type: "NetworkUnavailable", Status: corev1.ConditionFalse})
	unknown.VolumesAttached = []corev1.AttachedVolume{{Name: "v", DevicePath: "/dev/x"}}
	back := s.nodeStatus(n, &unknown, t0.Add(20*time.Second))
	if !nodeStatusChanged(&unknown, &back) {
		t.Error("status over Unknown not reported as changed")
	}
	if back.Conditions[0].Type != "NetworkUnavailable" || len(back.Conditions) != 5 || len(back.VolumesAttached) != 1 {
		t.Errorf("other writers' status lost: %+v", back)
	}
	for _, c := range back.Conditions[1:] {
		if c.Status == corev1.ConditionUnknown || !c.LastTransitionTime.Time.Equal(t0.Add(20*time.Second)) {
			t.Errorf("%s=%s transition %s", c.Type, c.Status, c.LastTransitionTime)
		}
	}
}

func TestFirstBeatSpread(t *testing.T) {
	s, _ := newTestSim(t, Config{Nodes: 1, HeartbeatInterval: 10 * time.Second})
	// Any 10 consecutive nodes fall in 10 different seconds of the interval.
	for start := 0; start < 100; start += 10 {
		seen := map[int]bool{}
		for i := start; i < start+10; i++ {
			d := s.firstBeat(i)
			if d < 0 || d >= 10*time.Second {
				t.Fatalf("node %d beats at %s", i, d)
			}
			seen[int(d/time.Second)] = true
		}
		if len(seen) < 8 {
			t.Errorf("nodes %d-%d beat in only %d distinct seconds", start, start+9, len(seen))
		}
	}
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	// sim-1 was left by an earlier run (with another pod CIDR and without
	// the zone label); sim-0 is new.
	old := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "sim-1", UID: "old-uid", Labels: map[string]string{"kubernetes.io/hostname": "sim-1", "keep": "me"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.99.7.0/24", PodCIDRs: []string{"10.99.7.0/24"}},
	}
	s, client := newTestSim(t, Config{Nodes: 2, Zones: 3}, old)
	for _, n := range s.order {
		n.registered = false
		if err := s.register(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	n0, err := client.CoreV1().Nodes().Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n0.Status.Conditions) != 4 || n0.Spec.PodCIDR != "10.42.0.0/24" {
		t.Errorf("sim-0 %+v", n0)
	}
	n1, err := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n1.Labels["keep"] != "me" || n1.Labels["topology.kubernetes.io/zone"] != "zone-1" || n1.Spec.PodCIDR != "10.99.7.0/24" || len(n1.Status.Conditions) != 4 {
		t.Errorf("adopted sim-1: labels %v spec %+v conditions %d", n1.Labels, n1.Spec, len(n1.Status.Conditions))
	}
	if ip, err := s.order[1].ipPool().allocate("u"); err != nil || !strings.HasPrefix(ip.String(), "10.99.7.") {
		t.Errorf("sim-1 pod IP %s %v, want one of its existing pod CIDR", ip, err)
	}
	for _, name := range []string{"sim-0", "sim-1"} {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") != name || ptr.Deref(l.Spec.LeaseDurationSeconds, 0) != 40 || l.Spec.RenewTime == nil {
			t.Errorf("lease %s: %+v", name, l.Spec)
		}
	}
	// The fake clientset gives new objects no UID: only the adopted node's
	// lease has an owner.
	if l, _ := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "sim-1", metav1.GetOptions{}); len(l.OwnerReferences) != 1 ||
		l.OwnerReferences[0].UID != "old-uid" || l.OwnerReferences[0].Kind != "Node" {
		t.Errorf("sim-1 lease owners %+v", l.OwnerReferences)
	}
	if !s.order[0].registered || s.order[0].lease == nil {
		t.Error("sim-0 not marked registered with its lease")
	}

	// A renewal is a single update of the cached lease.
	client.ClearActions()
	if err := s.renewLease(ctx, s.order[0]); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(writes(client), ","); got != "update leases" || len(client.Actions()) != 1 {
		t.Errorf("renewal did %v", client.Actions())
	}
}

func TestHeartbeatDeletedNode(t *testing.T) {
	ctx := context.Background()
	s, client := newTestSim(t, Config{Nodes: 1})
	n := s.order[0]
	n.registered = false
	if err := s.syncNode(ctx, "sim-0"); err != nil {
		t.Fatal(err)
	}
	// A beat with the node in place renews the lease.
	client.ClearActions()
	if err := s.syncNode(ctx, "sim-0"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(writes(client), ","); got != "update leases" {
		t.Errorf("heartbeat wrote %s, want a lease update", got)
	}
	// Once the node is deleted, the beat writes nothing and does not
	// register the node again.
	if err := client.CoreV1().Nodes().Delete(ctx, "sim-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := s.syncNode(ctx, "sim-0"); err != nil {
		t.Fatal(err)
	}
	if w := writes(client); len(w) != 0 || !n.gone {
		t.Errorf("heartbeat of a deleted node wrote %v (gone %v)", w, n.gone)
	}
}
