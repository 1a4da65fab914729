package node

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry/core/internal/fieldtest"
)

var ctx = context.Background()

func readyNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-1", Labels: map[string]string{"kubernetes.io/hostname": "worker-1"}},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}},
		Status: corev1.NodeStatus{
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "worker-1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.11"}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: "v1.33.4", OSImage: "Debian GNU/Linux 13 (trixie)", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.4",
			},
		},
	}
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "nodes" || r.Namespaced || r.ShortNames[0] != "no" || r.Status == nil {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	n := readyNode()
	if f := r.Fields(n); f["spec.unschedulable"] != "false" {
		t.Errorf("fields = %v", f)
	}
	n.Spec.Unschedulable = true
	if f := r.Fields(n); f["spec.unschedulable"] != "true" {
		t.Errorf("fields = %v", f)
	}
}

func TestDefault(t *testing.T) {
	n := readyNode()
	n.Spec.PodCIDRs = nil
	n.Spec.PodCIDR = "10.244.2.0/24"
	Resource().Default(n)
	Resource().Default(n)
	if !slices.Equal(n.Spec.PodCIDRs, []string{"10.244.2.0/24"}) {
		t.Errorf("podCIDRs = %v", n.Spec.PodCIDRs)
	}
	if q := n.Status.Allocatable[corev1.ResourceCPU]; q.Cmp(resource.MustParse("4")) != 0 {
		t.Errorf("allocatable = %v", n.Status.Allocatable)
	}
	// podCIDRs wins over podCIDR.
	m := readyNode()
	m.Spec.PodCIDR = "10.0.0.0/24"
	Default(m)
	if m.Spec.PodCIDR != "10.244.1.0/24" {
		t.Errorf("podCIDR = %q", m.Spec.PodCIDR)
	}
	// Allocatable that is set is kept.
	m.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m")}
	Default(m)
	if q := m.Status.Allocatable[corev1.ResourceCPU]; q.String() != "3500m" {
		t.Errorf("allocatable = %v", m.Status.Allocatable)
	}
}

func TestPrepareKeepsStatusOnCreate(t *testing.T) {
	r := Resource()
	n := readyNode()
	n.Spec.ConfigSource = &corev1.NodeConfigSource{}
	r.PrepareForCreate(ctx, n)
	if len(n.Status.Conditions) != 1 || n.Status.NodeInfo.KubeletVersion == "" {
		t.Errorf("status wiped on create: %+v", n.Status)
	}
	if n.Spec.ConfigSource != nil {
		t.Error("configSource kept")
	}
}

func TestPrepareForUpdate(t *testing.T) {
	r := Resource()
	old := readyNode()
	n := readyNode()
	n.Spec.Unschedulable = true
	n.Status.Conditions = nil
	r.PrepareForUpdate(ctx, n, old)
	if len(n.Status.Conditions) != 1 || !n.Spec.Unschedulable {
		t.Errorf("main update: spec %+v status %+v", n.Spec, n.Status)
	}
	n = readyNode()
	n.Spec.Unschedulable = true
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	r.Status.PrepareForUpdate(ctx, n, old)
	if n.Spec.Unschedulable || n.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("status update: spec %+v status %+v", n.Spec, n.Status)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []string
	}{
		{"valid", func(n *corev1.Node) {}, nil},
		{"dual-stack pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:1::/64"} }, nil},
		{"bad pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/33"} }, []string{"spec.podCIDRs[0]: Invalid value"}},
		{"two IPv4 pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.244.2.0/24"} }, []string{"spec.podCIDRs: Invalid value"}},
		{"duplicate pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.244.1.0/24"} },
			[]string{"spec.podCIDRs: Invalid value", "spec.podCIDRs[1]: Duplicate value"}},
		{"taints", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Effect: corev1.TaintEffectNoExecute}}
		}, nil},
		{"bad taints", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{
				{Key: "bad key", Effect: corev1.TaintEffectNoSchedule},
				{Key: "a", Value: "bad value!", Effect: "Sometimes"},
				{Key: "b"},
			}
		}, []string{"metadata.taints[0].key: Invalid value", "metadata.taints[1].value: Invalid value", "metadata.taints[1].effect: Unsupported value", "metadata.taints[2].effect: Required value"}},
		{"duplicate taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "a", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		}, []string{"metadata.taints[1]: Duplicate value"}},
		{"negative capacity", func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1") }, []string{"status.capacity.cpu: Invalid value"}},
		{"fractional pods", func(n *corev1.Node) {
			n.Status.Allocatable = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1500m")}
		}, []string{"status.allocatable.pods: Invalid value"}},
		{"bad taints annotation", func(n *corev1.Node) {
			n.Annotations = map[string]string{corev1.TaintsAnnotationKey: "[{"}
		}, []string{"metadata.annotations: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := readyNode()
			tc.mutate(n)
			fieldtest.Expect(t, Resource().Validate(ctx, n), tc.want...)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name        string
		old, change func(*corev1.Node)
		want        []string
	}{
		{"pod CIDR from unset", func(n *corev1.Node) { n.Spec.PodCIDRs = nil }, func(n *corev1.Node) {}, nil},
		{"pod CIDR changed", nil, func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.9.0/24"} }, []string{"spec.podCIDRs: Forbidden"}},
		{"pod CIDR removed", nil, func(n *corev1.Node) { n.Spec.PodCIDRs = nil }, []string{"spec.podCIDRs: Forbidden"}},
		{"secondary pod CIDR added", nil, func(n *corev1.Node) { n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, "fd00:1::/64") }, []string{"spec.podCIDRs: Forbidden"}},
		{"provider ID set", nil, func(n *corev1.Node) { n.Spec.ProviderID = "berth://worker-1" }, nil},
		{"provider ID changed", func(n *corev1.Node) { n.Spec.ProviderID = "a://1" }, func(n *corev1.Node) { n.Spec.ProviderID = "a://2" }, []string{"spec.providerID: Forbidden"}},
		{"external ID changed", nil, func(n *corev1.Node) { n.Spec.DoNotUseExternalID = "x" }, []string{"spec.externalID: Forbidden"}},
		{"cordon and taint", nil, func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}
		}, nil},
		{"duplicate addresses", nil, func(n *corev1.Node) { n.Status.Addresses = append(n.Status.Addresses, n.Status.Addresses[1]) }, []string{"status.addresses[2]: Duplicate value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := readyNode()
			if tc.old != nil {
				tc.old(old)
			}
			n := old.DeepCopy()
			tc.change(n)
			fieldtest.Expect(t, Resource().ValidateUpdate(ctx, n, old), tc.want...)
			fieldtest.Expect(t, Resource().Status.ValidateUpdate(ctx, n, old), tc.want...)
		})
	}
}

func TestTable(t *testing.T) {
	r := Resource()
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		status string
		roles  string
	}{
		{"ready worker", func(n *corev1.Node) {}, "Ready", "<none>"},
		{"not ready", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }, "NotReady", "<none>"},
		{"no condition", func(n *corev1.Node) { n.Status.Conditions = nil }, "Unknown", "<none>"},
		{"cordoned control plane", func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Labels["node-role.kubernetes.io/control-plane"] = ""
			n.Labels["node-role.kubernetes.io/etcd"] = "true"
			n.Labels["kubernetes.io/role"] = "master"
		}, "Ready,SchedulingDisabled", "control-plane,etcd,master"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := readyNode()
			n.CreationTimestamp = metav1.NewTime(time.Now().Add(-49 * time.Hour))
			tc.mutate(n)
			got := r.Cells(n)
			want := []interface{}{"worker-1", tc.status, tc.roles, "2d1h", "v1.33.4", "192.168.1.11", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://2.1.4"}
			if len(got) != len(r.Columns) || !slices.Equal(got, want) {
				t.Errorf("cells = %q\nwant %q", got, want)
			}
		})
	}
	empty := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	if got := r.Cells(empty); got[7] != "<unknown>" || got[5] != "<none>" || got[3] != "<unknown>" {
		t.Errorf("cells of an empty node = %q", got)
	}
}
