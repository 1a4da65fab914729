package network

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// node makes a Node; mac and vtep are its VXLAN annotations ("": none).
func node(name, podCIDR, ip, mac, vtep string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}}}
	n.Spec.PodCIDR = podCIDR
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	if mac != "" {
		n.Annotations[VXLANMACAnnotation] = mac
	}
	if vtep != "" {
		n.Annotations[VXLANIPAnnotation] = vtep
	}
	return n
}

// probeTable answers reach from a table; unknown addresses fail.
func probeTable(m map[string]reach) func(netip.Addr) (reach, error) {
	return func(a netip.Addr) (reach, error) {
		r, ok := m[a.String()]
		if !ok {
			return 0, errors.New("network is unreachable")
		}
		return r, nil
	}
}

func TestPlan(t *testing.T) {
	a, p := netip.MustParseAddr, netip.MustParsePrefix
	const macB, macC = "02:00:00:00:00:0b", "02:00:00:00:00:0c"
	self := node("a", "10.42.1.0/24", "192.168.5.2", "", "")
	reaches := probeTable(map[string]reach{
		"192.168.5.3": reachDirect, "192.168.6.3": reachGateway, "192.168.5.2": reachLocal, "192.168.5.9": reachLocal,
	})
	deleting := node("d", "10.42.4.0/24", "192.168.5.3", "", "")
	deleting.DeletionTimestamp = &metav1.Time{}

	tests := []struct {
		name    string
		mode    Mode
		nodeIP  string
		nodes   []*corev1.Node
		want    plan
		skipped map[string]string // substrings of the reasons
	}{{
		name:  "auto: a peer on the link gets a host-gw route",
		mode:  ModeAuto,
		nodes: []*corev1.Node{self, node("b", "10.42.2.0/24", "192.168.5.3", macB, "")},
		want: plan{
			Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32"),
			Routes: []route{{Dst: p("10.42.2.0/24"), Via: a("192.168.5.3")}},
		},
	}, {
		name:  "auto: a peer behind a router gets VXLAN",
		mode:  ModeAuto,
		nodes: []*corev1.Node{self, node("c", "10.42.3.0/24", "192.168.6.3", macC, "")},
		want: plan{
			Device: true, Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32"),
			Routes:     []route{{Dst: p("10.42.3.0/24"), Via: a("10.42.3.0"), VXLAN: true}},
			Neighbours: []neighbour{{IP: a("10.42.3.0"), MAC: macC}},
			FDB:        []fdbEntry{{MAC: macC, Dst: a("192.168.6.3")}},
		},
	}, {
		name: "auto: both kinds, sorted by node",
		mode: ModeAuto,
		nodes: []*corev1.Node{
			node("c", "10.42.3.0/24", "192.168.6.3", macC, ""), self, node("b", "10.42.2.0/24", "192.168.5.3", macB, ""),
		},
		want: plan{
			Device: true, Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32"),
			Routes: []route{
				{Dst: p("10.42.2.0/24"), Via: a("192.168.5.3")},
				{Dst: p("10.42.3.0/24"), Via: a("10.42.3.0"), VXLAN: true},
			},
			Neighbours: []neighbour{{IP: a("10.42.3.0"), MAC: macC}},
			FDB:        []fdbEntry{{MAC: macC, Dst: a("192.168.6.3")}},
		},
	}, {
		name:    "auto: a VXLAN peer without its MAC yet still wants the device",
		mode:    ModeAuto,
		nodes:   []*corev1.Node{self, node("c", "10.42.3.0/24", "192.168.6.3", "", "")},
		want:    plan{Device: true, Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32")},
		skipped: map[string]string{"c": "no " + VXLANMACAnnotation},
	}, {
		name:    "auto: an agent on this host gets nothing",
		mode:    ModeAuto,
		nodes:   []*corev1.Node{self, node("b", "10.42.2.0/24", "192.168.5.2", macB, ""), node("e", "10.42.5.0/24", "192.168.5.9", "", "")},
		want:    plan{Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32")},
		skipped: map[string]string{"b": "this host's", "e": "this host's"},
	}, {
		name:    "auto: an unreachable peer is skipped",
		mode:    ModeAuto,
		nodes:   []*corev1.Node{self, node("b", "10.42.2.0/24", "10.9.9.9", macB, "")},
		want:    plan{Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32")},
		skipped: map[string]string{"b": "unreachable"},
	}, {
		name:    "host-gw: a peer behind a router is skipped",
		mode:    ModeHostGW,
		nodes:   []*corev1.Node{self, node("c", "10.42.3.0/24", "192.168.6.3", macC, ""), node("b", "10.42.2.0/24", "192.168.5.3", "", "")},
		want:    plan{Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32"), Routes: []route{{Dst: p("10.42.2.0/24"), Via: a("192.168.5.3")}}},
		skipped: map[string]string{"c": "not on a link"},
	}, {
		name:  "vxlan: a peer on the link too, to its vxlan-ip",
		mode:  ModeVXLAN,
		nodes: []*corev1.Node{self, node("b", "10.42.2.0/24", "192.168.5.3", macB, "172.16.0.3")},
		want: plan{
			Device: true, Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32"),
			Routes:     []route{{Dst: p("10.42.2.0/24"), Via: a("10.42.2.0"), VXLAN: true}},
			Neighbours: []neighbour{{IP: a("10.42.2.0"), MAC: macB}},
			FDB:        []fdbEntry{{MAC: macB, Dst: a("172.16.0.3")}},
		},
	}, {
		name:   "vxlan: the device even alone, with the configured node IP",
		mode:   ModeVXLAN,
		nodeIP: "172.16.0.2",
		nodes:  []*corev1.Node{self},
		want:   plan{Device: true, Local: a("172.16.0.2"), DeviceAddr: p("10.42.1.0/32")},
	}, {
		name:    "vxlan: own node unknown: no address, no device",
		mode:    ModeVXLAN,
		nodes:   []*corev1.Node{node("b", "10.42.2.0/24", "192.168.5.3", macB, "")},
		want:    plan{},
		skipped: map[string]string{"b": "no address"},
	}, {
		name: "bad peers",
		mode: ModeAuto,
		nodes: []*corev1.Node{
			self,
			node("nocidr", "", "192.168.5.3", "", ""),
			node("noip", "10.42.2.0/24", "", "", ""),
			node("outside", "10.99.0.0/24", "192.168.5.3", "", ""),
			node("overlap", "10.42.1.0/25", "192.168.5.3", "", ""),
			node("wide", "10.0.0.0/8", "192.168.5.3", "", ""),
			node("badcidr", "10.42.7.0/33", "192.168.5.3", "", ""),
			node("badmac", "10.42.8.0/24", "192.168.6.3", "zz", ""),
			deleting,
		},
		want: plan{Local: a("192.168.5.2"), DeviceAddr: p("10.42.1.0/32")},
		skipped: map[string]string{
			"nocidr": "no pod CIDR", "noip": "no InternalIP", "outside": "outside the cluster",
			"overlap": "overlaps", "wide": "outside the cluster", "badcidr": "pod CIDR", "badmac": "bad MAC",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := planner{self: "a", cluster: p("10.42.0.0/16"), mode: tt.mode}
			if tt.nodeIP != "" {
				pl.nodeIP = a(tt.nodeIP)
			}
			got := pl.plan(tt.nodes, reaches)
			skipped := got.Skipped
			got.Skipped, tt.want.Skipped = nil, nil
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if len(skipped) != len(tt.skipped) {
				t.Errorf("skipped %v, want %d: %v", skipped, len(tt.skipped), tt.skipped)
			}
			for n, sub := range tt.skipped {
				if !strings.Contains(skipped[n], sub) {
					t.Errorf("node %s skipped for %q, want %q", n, skipped[n], sub)
				}
			}
		})
	}
}

func TestVTEPMAC(t *testing.T) {
	m1, m2 := vtepMAC("node-1"), vtepMAC("node-2")
	if m1.String() == m2.String() {
		t.Errorf("two nodes share MAC %s", m1)
	}
	if m1.String() != vtepMAC("node-1").String() {
		t.Error("the MAC of a node changes")
	}
	for _, mac := range []net.HardwareAddr{m1, m2} {
		if len(mac) != 6 || mac[0]&1 != 0 || mac[0]&2 == 0 {
			t.Errorf("MAC %s is not a locally administered unicast one", mac)
		}
	}
}

func TestRelevant(t *testing.T) {
	base := node("b", "10.42.2.0/24", "192.168.5.3", "02:00:00:00:00:0b", "")
	heartbeat := base.DeepCopy()
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	heartbeat.ResourceVersion = "7"
	tests := []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"status heartbeat", func(n *corev1.Node) { n.Status.Conditions = heartbeat.Status.Conditions; n.ResourceVersion = "7" }, false},
		{"label", func(n *corev1.Node) { n.Labels = map[string]string{"x": "y"} }, false},
		{"pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDR = "10.42.9.0/24" }, true},
		{"address", func(n *corev1.Node) { n.Status.Addresses[1].Address = "192.168.5.4" }, true},
		{"MAC", func(n *corev1.Node) { n.Annotations[VXLANMACAnnotation] = "02:00:00:00:00:0c" }, true},
		{"VTEP", func(n *corev1.Node) { n.Annotations[VXLANIPAnnotation] = "10.0.0.1" }, true},
		{"deleting", func(n *corev1.Node) { n.DeletionTimestamp = &metav1.Time{} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := base.DeepCopy()
			tt.change(n)
			if got := relevantOf(base) != relevantOf(n); got != tt.want {
				t.Errorf("relevant change = %v, want %v", got, tt.want)
			}
		})
	}
}
