package pod

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Limits of the kubelet on the resolver configuration of pods.
const (
	maxDNSSearches     = 32
	maxDNSSearchLength = 2048
	maxDNSNameservers  = 3
)

// resolvConf is a parsed resolv.conf.
type resolvConf struct {
	nameservers, searches, options []string
}

func parseResolvConf(data []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, f[1])
		case "search", "domain": // the last one wins
			rc.searches = append([]string(nil), f[1:]...)
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

// dnsConfig is the resolver configuration of a pod's sandbox for its
// dnsPolicy, as the kubelet makes it.
func (m *Manager) dnsConfig(pod *corev1.Pod) *runtimeapi.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	clusterFirst := len(m.cfg.ClusterDNS) > 0 &&
		(policy == corev1.DNSClusterFirstWithHostNet || (policy == corev1.DNSClusterFirst && !pod.Spec.HostNetwork))
	var rc resolvConf
	switch {
	case policy == corev1.DNSNone:
	case clusterFirst:
		host := m.hostResolvConf()
		rc.nameservers = append([]string(nil), m.cfg.ClusterDNS...)
		d := m.cfg.ClusterDomain
		rc.searches = append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, host.searches...)
		rc.options = []string{"ndots:5"}
	default: // Default, and ClusterFirst without a cluster DNS
		rc = m.hostResolvConf()
	}
	if c := pod.Spec.DNSConfig; c != nil {
		rc.nameservers = append(rc.nameservers, c.Nameservers...)
		rc.searches = append(rc.searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			rc.options = mergeOption(rc.options, o.Name, opt)
		}
	}
	return &runtimeapi.DNSConfig{
		Servers:  firstN(dedupe(rc.nameservers), maxDNSNameservers),
		Searches: fitSearches(dedupe(rc.searches)),
		Options:  rc.options,
	}
}

func (m *Manager) hostResolvConf() resolvConf {
	data, err := os.ReadFile(m.cfg.ResolvConf)
	if err != nil {
		m.log.Warn("read host resolver configuration", "file", m.cfg.ResolvConf, "err", err)
		return resolvConf{}
	}
	return parseResolvConf(data)
}

// mergeOption replaces the option called name, or adds it.
func mergeOption(options []string, name, opt string) []string {
	for i, o := range options {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			options[i] = opt
			return options
		}
	}
	return append(options, opt)
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func firstN(list []string, n int) []string {
	if len(list) > n {
		return list[:n]
	}
	return list
}

// fitSearches drops the search domains beyond the kubelet's limits.
func fitSearches(searches []string) []string {
	searches = firstN(searches, maxDNSSearches)
	for len(searches) > 0 && len(strings.Join(searches, " ")) > maxDNSSearchLength {
		searches = searches[:len(searches)-1]
	}
	return searches
}

// hostnameAndDomain are the pod's hostname (spec.hostname or its name,
// cut to 63 characters) and domain (from spec.subdomain).
func (m *Manager) hostnameAndDomain(pod *corev1.Pod) (string, string) {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	domain := ""
	if pod.Spec.Subdomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, m.cfg.ClusterDomain)
	}
	return hostname, domain
}

// hostsFile is the content of the /etc/hosts the kubelet gives the pod's
// containers.
func hostsFile(pod *corev1.Pod, podIPs []string, hostname, domain string, nodeHosts []byte) []byte {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(nodeHosts)
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n")
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\n")
		b.WriteString("fe00::0\tip6-mcastprefix\n")
		b.WriteString("fe00::1\tip6-allnodes\n")
		b.WriteString("fe00::2\tip6-allrouters\n")
		for _, ip := range podIPs {
			if domain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// writeHostsFile writes the pod's etc-hosts file and returns its path.
func (m *Manager) writeHostsFile(pod *corev1.Pod, podIPs []string) (string, error) {
	hostname, domain := m.hostnameAndDomain(pod)
	var nodeHosts []byte
	if pod.Spec.HostNetwork {
		var err error
		if nodeHosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return "", fmt.Errorf("read the node's hosts file: %w", err)
		}
	}
	dir := m.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	file := filepath.Join(dir, "etc-hosts")
	if err := os.WriteFile(file, hostsFile(pod, podIPs, hostname, domain, nodeHosts), 0o644); err != nil {
		return "", err
	}
	return file, os.Chmod(file, 0o644)
}
