package node

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	f := newFakeRuntime()
	client := kubernetes.New(nil)
	valid := func() Config {
		return Config{Name: "n1", Client: client, Runtime: f, Images: f,
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.2"}}}
	}
	n, err := New(valid())
	if err != nil {
		t.Fatal(err)
	}
	c := n.cfg
	if c.DaemonPort != 10250 || c.MaxPods != 110 || c.LeaseDuration != 40*time.Second || c.LeaseInterval != 10*time.Second ||
		c.StatusInterval != 10*time.Second || c.StatusReportInterval != 5*time.Minute || c.RootDir != "/" ||
		c.PressureTransitionPeriod != 5*time.Minute || c.Version != DefaultVersion {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"bad name", func(c *Config) { c.Name = "Node_1" }, `name "Node_1"`},
		{"no client", func(c *Config) { c.Client = nil }, "client is required"},
		{"no runtime", func(c *Config) { c.Runtime = nil }, "runtime service is required"},
		{"no images", func(c *Config) { c.Images = nil }, "image service is required"},
		{"lease interval too long", func(c *Config) { c.LeaseDuration, c.LeaseInterval = 10*time.Second, 10*time.Second }, "not shorter than leaseDuration"},
		{"negative interval", func(c *Config) { c.StatusInterval = -time.Second }, "statusInterval -1s is negative"},
		{"bad eviction", func(c *Config) { c.EvictionHard = map[string]string{"memory.available": "x"} }, "eviction threshold memory.available=x"},
		{"health check without function", func(c *Config) { c.HealthChecks = []HealthCheck{{Name: "x"}} }, "needs a name and a function"},
	} {
		cfg := valid()
		tc.change(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// An existing node gets the kubelet's default labels, the attach/detach
// annotation and a pod CIDR if it has none; its other labels and its taints
// stay.
func TestReconcileNode(t *testing.T) {
	f := newFakeRuntime()
	n, err := New(Config{Name: "n1", Client: kubernetes.New(nil), Runtime: f, Images: f, PodCIDR: "10.42.1.0/24",
		Labels:    map[string]string{"team": "b"},
		Taints:    []corev1.Taint{{Key: "new", Effect: corev1.TaintEffectNoSchedule}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.2"}}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := n.initialNode(&observation{now: time.Now(), host: testSample()})
	for _, tc := range []struct {
		name        string
		existing    corev1.Node
		wantChanged bool
		wantLabels  map[string]string
		wantCIDR    string
	}{
		{
			name: "labels changed by hand are put back, others kept",
			existing: corev1.Node{
				ObjectMeta: metav1ObjectMeta(map[string]string{"kubernetes.io/hostname": "wrong", "team": "a", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
					map[string]string{annotationCMAD: "true"}),
				Spec: corev1.NodeSpec{PodCIDR: "10.42.7.0/24", PodCIDRs: []string{"10.42.7.0/24"},
					Taints: []corev1.Taint{{Key: "old", Effect: corev1.TaintEffectNoExecute}}},
			},
			wantChanged: true,
			wantLabels: map[string]string{"kubernetes.io/hostname": "n1", "team": "a", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
			wantCIDR: "10.42.7.0/24",
		},
		{
			name: "in line already",
			existing: corev1.Node{
				ObjectMeta: metav1ObjectMeta(map[string]string{"kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
					"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}, map[string]string{annotationCMAD: "true"}),
				Spec: corev1.NodeSpec{PodCIDR: "10.42.7.0/24", PodCIDRs: []string{"10.42.7.0/24"},
					Taints: []corev1.Taint{{Key: "old", Effect: corev1.TaintEffectNoExecute}}},
			},
			wantLabels: map[string]string{"kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
			wantCIDR: "10.42.7.0/24",
		},
		{
			name:        "bare node gets labels, annotation and pod CIDR",
			existing:    corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "old", Effect: corev1.TaintEffectNoExecute}}}},
			wantChanged: true,
			wantLabels: map[string]string{"kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
			wantCIDR: "10.42.1.0/24",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := tc.existing.DeepCopy()
			if got := reconcileNode(node, want); got != tc.wantChanged {
				t.Errorf("changed %v, want %v", got, tc.wantChanged)
			}
			if len(node.Labels) != len(tc.wantLabels) {
				t.Errorf("labels %v, want %v", node.Labels, tc.wantLabels)
			}
			for k, v := range tc.wantLabels {
				if node.Labels[k] != v {
					t.Errorf("label %s=%q, want %q", k, node.Labels[k], v)
				}
			}
			if node.Annotations[annotationCMAD] != "true" {
				t.Errorf("annotations %v", node.Annotations)
			}
			if node.Spec.PodCIDR != tc.wantCIDR || len(node.Spec.PodCIDRs) != 1 || node.Spec.PodCIDRs[0] != tc.wantCIDR {
				t.Errorf("pod CIDR %q %v, want %s", node.Spec.PodCIDR, node.Spec.PodCIDRs, tc.wantCIDR)
			}
			if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "old" {
				t.Errorf("taints %v, want the existing ones only", node.Spec.Taints)
			}
		})
	}
}

func metav1ObjectMeta(labels, annotations map[string]string) (m metav1.ObjectMeta) {
	m.Name, m.Labels, m.Annotations = "n1", labels, annotations
	return m
}

func TestParseDefaultRoute(t *testing.T) {
	for _, tc := range []struct {
		name, table, want string
	}{
		{"one", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n" +
			"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
			"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", "eth0"},
		{"least metric", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" +
			"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\n" +
			"eth1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\n", "eth1"},
		{"none", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" +
			"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n", ""},
	} {
		got, err := parseDefaultRoute(bufio.NewScanner(strings.NewReader(tc.table)))
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// On this machine the InternalIP is a global unicast address of an
// interface, and the host name is the Hostname address.
func TestDetectAddresses(t *testing.T) {
	addrs, err := DetectAddresses("host-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0].Type != corev1.NodeInternalIP || addrs[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: "host-1"}) {
		t.Fatalf("addresses %v", addrs)
	}
	ip, err := netip.ParseAddr(addrs[0].Address)
	if err != nil || !ip.IsGlobalUnicast() {
		t.Errorf("InternalIP %q is not a global unicast address", addrs[0].Address)
	}
	h, err := Hostname()
	if err != nil || h == "" || strings.ToLower(h) != h {
		t.Errorf("Hostname() = %q, %v", h, err)
	}
}
