package pod

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDNSConfig(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54 ; x\nsearch corp.example lab.example\noptions edns0 ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := func(policy corev1.DNSPolicy, hostNet bool, cfg *corev1.PodDNSConfig) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app"}, Spec: corev1.PodSpec{DNSPolicy: policy, HostNetwork: hostNet, DNSConfig: cfg}}
	}
	tests := []struct {
		name                       string
		clusterDNS                 []string
		pod                        *corev1.Pod
		servers, searches, options string
	}{
		{"cluster first without a cluster DNS", nil, pod(corev1.DNSClusterFirst, false, nil),
			"192.0.2.53 192.0.2.54", "corp.example lab.example", "edns0 ndots:2"},
		{"cluster first", []string{"10.43.0.10"}, pod(corev1.DNSClusterFirst, false, nil),
			"10.43.0.10", "app.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example", "ndots:5"},
		{"cluster first on the host network", []string{"10.43.0.10"}, pod(corev1.DNSClusterFirst, true, nil),
			"192.0.2.53 192.0.2.54", "corp.example lab.example", "edns0 ndots:2"},
		{"cluster first with host net", []string{"10.43.0.10"}, pod(corev1.DNSClusterFirstWithHostNet, true, nil),
			"10.43.0.10", "app.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example", "ndots:5"},
		{"default", []string{"10.43.0.10"}, pod(corev1.DNSDefault, false, nil),
			"192.0.2.53 192.0.2.54", "corp.example lab.example", "edns0 ndots:2"},
		{"none", []string{"10.43.0.10"}, pod(corev1.DNSNone, false, &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"x.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}},
		}), "1.1.1.1", "x.example", "ndots:1"},
		{"merged", []string{"10.43.0.10"}, pod(corev1.DNSClusterFirst, false, &corev1.PodDNSConfig{
			Nameservers: []string{"10.43.0.10", "1.1.1.1"}, Searches: []string{"cluster.local", "y.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "single-request"}},
		}), "10.43.0.10 1.1.1.1", "app.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example y.example", "ndots:2 single-request"},
	}
	for _, tt := range tests {
		m := &Manager{cfg: Config{ClusterDNS: tt.clusterDNS, ClusterDomain: "cluster.local", ResolvConf: resolv}, log: slog.Default()}
		got := m.dnsConfig(tt.pod)
		if s := strings.Join(got.Servers, " "); s != tt.servers {
			t.Errorf("%s: servers %q, want %q", tt.name, s, tt.servers)
		}
		if s := strings.Join(got.Searches, " "); s != tt.searches {
			t.Errorf("%s: searches %q, want %q", tt.name, s, tt.searches)
		}
		if s := strings.Join(got.Options, " "); s != tt.options {
			t.Errorf("%s: options %q, want %q", tt.name, s, tt.options)
		}
	}
}

func TestHostnameAndHosts(t *testing.T) {
	m := &Manager{cfg: Config{ClusterDomain: "cluster.local"}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 70), Namespace: "ns"}}
	if h, d := m.hostnameAndDomain(p); h != strings.Repeat("a", 63) || d != "" {
		t.Errorf("%q %q", h, d)
	}
	p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
	h, d := m.hostnameAndDomain(p)
	if h != "web-0" || d != "web.ns.svc.cluster.local" {
		t.Errorf("%q %q", h, d)
	}
	got := string(hostsFile(p, []string{"10.42.0.3"}, h, d, nil))
	if !strings.HasSuffix(got, "fe00::2\tip6-allrouters\n10.42.0.3\tweb-0.web.ns.svc.cluster.local\tweb-0\n") {
		t.Errorf("hosts:\n%s", got)
	}
	p.Spec.HostNetwork = true
	got = string(hostsFile(p, nil, h, d, []byte("127.0.0.1 localhost\n")))
	if got != "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n" {
		t.Errorf("host network hosts:\n%s", got)
	}
}
