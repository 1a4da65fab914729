package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Values a simulated node reports about itself.
const (
	KubeletVersion          = "v1.33.0-sim"
	ContainerRuntimeVersion = "sim://0.1"
	OSImage                 = "berth sim"
	KernelVersion           = "6.12.0-sim"
	kubeletPort             = 10250

	labelZone = "topology.kubernetes.io/zone"
	// annotationControllerManagedAttach is set by a kubelet that lets the
	// attach/detach controller attach its volumes (the default).
	annotationControllerManagedAttach = "volumes.kubernetes.io/controller-managed-attach-detach"
)

// simNode is one simulated node and its kubelet's memory.
type simNode struct {
	name    string
	index   int
	ip      netip.Addr
	podCIDR netip.Prefix

	mu         sync.Mutex
	pool       *ipPool
	uid        types.UID
	registered bool
	stopped    bool
	gone       bool // the Node was deleted after registration
	lastReport time.Time
	// lease is the last Lease written, so that renewals need no read.
	lease *coordinationv1.Lease
}

func (n *simNode) isStopped() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopped
}

func (n *simNode) ipPool() *ipPool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pool
}

// newSimNode lays out node i: its name, InternalIP and pod CIDR.
func (s *Sim) newSimNode(i int) (*simNode, error) {
	cidr, err := s.podBlocks.block(i)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR of node %d: %w", i, err)
	}
	ipBlock, err := s.nodeIPs.block(i + 1)
	if err != nil {
		return nil, fmt.Errorf("InternalIP of node %d: %w", i, err)
	}
	return &simNode{
		name:    s.cfg.NamePrefix + strconv.Itoa(i),
		index:   i,
		ip:      ipBlock.Addr(),
		podCIDR: cidr,
		pool:    newIPPool(cidr),
	}, nil
}

// labels are the node's labels: the kubelet's well-known ones, the zone
// and Config.Labels.
func (s *Sim) labels(n *simNode) map[string]string {
	l := make(map[string]string, len(s.cfg.Labels)+6)
	for k, v := range s.cfg.Labels {
		l[k] = v
	}
	l[corev1.LabelHostname] = n.name
	l[corev1.LabelOSStable] = "linux"
	l[corev1.LabelArchStable] = "amd64"
	l["beta.kubernetes.io/os"] = "linux"
	l["beta.kubernetes.io/arch"] = "amd64"
	if s.cfg.Zones > 0 {
		l[labelZone] = "zone-" + strconv.Itoa(n.index%s.cfg.Zones)
	}
	return l
}

// nodeObject is the Node a kubelet registers: labels, pod CIDR, taints and
// a full status.
func (s *Sim) nodeObject(n *simNode, now time.Time) *corev1.Node {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.name,
			Labels:      s.labels(n),
			Annotations: map[string]string{annotationControllerManagedAttach: "true"},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:  n.podCIDR.String(),
			PodCIDRs: []string{n.podCIDR.String()},
		},
	}
	node.Spec.Taints = slices.Clone(s.cfg.Taints)
	node.Status = s.nodeStatus(n, nil, now)
	return node
}

func (s *Sim) resources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              s.cfg.CPU,
		corev1.ResourceMemory:           s.cfg.Memory,
		corev1.ResourceEphemeralStorage: s.cfg.EphemeralStorage,
		corev1.ResourcePods:             *resource.NewQuantity(int64(s.cfg.Pods), resource.DecimalSI),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
}

// nodeConditions are the conditions a healthy kubelet reports, in its
// order.
func nodeConditions() []corev1.NodeCondition {
	return []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	}
}

// nodeStatus is the status n's kubelet posts at now, given the status the
// API server has (nil at registration): the kubelet's fields are set, the
// others (volumes, images, conditions of other writers) kept. A condition
// keeps its lastTransitionTime while its status does not change; every
// condition gets now as its heartbeat.
func (s *Sim) nodeStatus(n *simNode, old *corev1.NodeStatus, now time.Time) corev1.NodeStatus {
	var st corev1.NodeStatus
	if old != nil {
		st = *old.DeepCopy()
	}
	res := s.resources()
	st.Capacity = res
	st.Allocatable = res.DeepCopy()
	st.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: n.ip.String()},
		{Type: corev1.NodeHostName, Address: n.name},
	}
	st.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}}
	sum := sha256.Sum256([]byte(n.name))
	id := hex.EncodeToString(sum[:16])
	uuid := fmt.Sprintf("%s-%s-%s-%s-%s", id[0:8], id[8:12], id[12:16], id[16:20], id[20:32])
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               id,
		SystemUUID:              uuid,
		BootID:                  uuid,
		KernelVersion:           KernelVersion,
		OSImage:                 OSImage,
		ContainerRuntimeVersion: ContainerRuntimeVersion,
		KubeletVersion:          KubeletVersion,
		OperatingSystem:         "linux",
		Architecture:            "amd64",
	}
	hb := metav1.NewTime(now.Truncate(time.Second))
	ours := nodeConditions()
	var conds []corev1.NodeCondition
	for _, c := range st.Conditions {
		if !kubeletNodeCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	for _, c := range ours {
		c.LastHeartbeatTime = hb
		c.LastTransitionTime = hb
		for _, o := range st.Conditions {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		conds = append(conds, c)
	}
	st.Conditions = conds
	return st
}

func kubeletNodeCondition(t corev1.NodeConditionType) bool {
	switch t {
	case corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeReady:
		return true
	}
	return false
}

// nodeStatusChanged tells whether posting want over have changes anything
// but heartbeat times.
func nodeStatusChanged(have, want *corev1.NodeStatus) bool {
	strip := func(st *corev1.NodeStatus) *corev1.NodeStatus {
		c := st.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return c
	}
	return !apiequality.Semantic.DeepEqual(strip(have), strip(want))
}
