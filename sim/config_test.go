package sim

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.Defaults()
	if c.NamePrefix != "sim-" || c.CPU.String() != "4" || c.Memory.String() != "16Gi" || c.Pods != 110 ||
		c.EphemeralStorage.String() != "100Gi" || c.HeartbeatInterval != 10*time.Second ||
		c.StatusReportInterval != 5*time.Minute || c.LeaseDuration != 40*time.Second || c.PodStartDelay != 0 ||
		c.JobPodDuration != time.Second || c.PodCIDR != "10.42.0.0/16" || c.NodeCIDRMaskSize != 24 ||
		c.Workers != 32 || c.Logger == nil {
		t.Errorf("defaults %+v", c)
	}
	for _, tc := range []struct {
		nodes int
		want  string
	}{{256, "10.42.0.0/16"}, {257, "10.64.0.0/10"}, {1000, "10.64.0.0/10"}} {
		c := Config{Nodes: tc.nodes}
		c.Defaults()
		if c.PodCIDR != tc.want {
			t.Errorf("%d nodes: pod CIDR %s, want %s", tc.nodes, c.PodCIDR, tc.want)
		}
	}
	c = Config{Nodes: 1000, PodCIDR: "10.0.0.0/8"}
	c.Defaults()
	if c.PodCIDR != "10.0.0.0/8" {
		t.Errorf("explicit pod CIDR replaced by %s", c.PodCIDR)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no client", func(c *Config) { c.Client = nil }, "client is required"},
		{"negative nodes", func(c *Config) { c.Nodes = -1 }, "must not be negative"},
		{"bad prefix", func(c *Config) { c.NamePrefix = "Sim_" }, "name prefix"},
		{"negative cpu", func(c *Config) { c.CPU = resource.MustParse("-1") }, "cpu -1"},
		{"bad label", func(c *Config) { c.Labels = map[string]string{"a b": "c"} }, `label "a b"`},
		{"bad label value", func(c *Config) { c.Labels = map[string]string{"a": "b c"} }, "label a="},
		{"bad taint effect", func(c *Config) { c.Taints = []corev1.Taint{{Key: "k", Effect: "Never"}} }, `effect "Never"`},
		{"zero heartbeat", func(c *Config) { c.HeartbeatInterval = -time.Second }, "heartbeat interval"},
		{"short lease", func(c *Config) { c.LeaseDuration = time.Millisecond }, "at least 1s"},
		{"negative delay", func(c *Config) { c.PodStartDelay = -1 }, "pod start delay"},
		{"ipv6", func(c *Config) { c.PodCIDR = "fd00::/48" }, "only IPv4"},
		{"mask too long", func(c *Config) { c.NodeCIDRMaskSize = 31 }, "at most 30"},
		{"bad node range", func(c *Config) { c.NodeIPRange = "x" }, "node IP range"},
		{"no workers", func(c *Config) { c.Workers = -2 }, "workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Client: fake.NewClientset()}
			c.Defaults()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestNewTooManyNodes(t *testing.T) {
	_, err := New(Config{Client: fake.NewClientset(), Nodes: 300, PodCIDR: "10.42.0.0/16"})
	if err == nil || !strings.Contains(err.Error(), "room for 256") {
		t.Errorf("300 nodes in a /16: err %v", err)
	}
	s, err := New(Config{Client: fake.NewClientset(), Nodes: 255, PodCIDR: "10.42.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddNodes(1); err != nil {
		t.Errorf("256th node: %v", err)
	}
	if _, err := s.AddNodes(2); err == nil {
		t.Error("257th node: no error")
	}
	if n := len(s.NodeNames()); n != 256 {
		t.Errorf("%d nodes after a failed AddNodes, want 256", n)
	}
}
