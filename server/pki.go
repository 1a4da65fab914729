package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"berth/pki"
)

// Admin credentials: the cluster-admin user of the admin kubeconfig.
const (
	adminUser  = "system:admin"
	adminGroup = "system:masters"
)

type serverCerts struct {
	ca      *pki.CA
	serving *tls.Config
}

// setupPKI makes (or reuses) the cluster CA, the serving certificate and
// the admin kubeconfig for an API server on port.
func (s *Server) setupPKI(port int) (*serverCerts, error) {
	dir := filepath.Join(s.cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "berth-ca")
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	dns, ips := s.servingNames()
	servingCert, servingKey := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	if err := ca.IssueKeyPair(servingCert, servingKey, pki.Leaf{CommonName: "kube-apiserver", DNSNames: dns, IPs: ips, Server: true}); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	adminCert, adminKey := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if err := ca.IssueKeyPair(adminCert, adminKey, pki.Leaf{CommonName: adminUser, Organization: []string{adminGroup}}); err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	certPEM, err := os.ReadFile(adminCert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(adminKey)
	if err != nil {
		return nil, err
	}
	kc, err := pki.Kubeconfig(fmt.Sprintf("https://127.0.0.1:%d", port), ca.PEM, certPEM, keyPEM, "admin")
	if err != nil {
		return nil, err
	}
	if err := pki.WriteFile(s.KubeconfigPath(), kc, 0o600); err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(servingCert, servingKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &serverCerts{ca: ca, serving: &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}}, nil
}

// servingNames are the names and addresses the serving certificate is
// valid for: loopback, the host's name and addresses, the in-cluster
// service names and the first service IP, and any configured extras.
func (s *Server) servingNames() ([]string, []net.IP) {
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if h, err := os.Hostname(); err == nil {
		dns = append(dns, h)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	if ip, err := firstServiceIP(s.cfg.ServiceCIDR); err == nil {
		ips = append(ips, ip)
	}
	ips = append(ips, hostIPs()...)
	if s.cfg.AdvertiseAddress != "" {
		ips = append(ips, net.ParseIP(s.cfg.AdvertiseAddress))
	}
	for _, san := range s.cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}
	return dns, ips
}

// advertiseIP is the address other hosts reach the API server at.
func (s *Server) advertiseIP() string {
	if s.cfg.AdvertiseAddress != "" {
		return s.cfg.AdvertiseAddress
	}
	if ips := hostIPs(); len(ips) > 0 {
		return ips[0].String()
	}
	return "127.0.0.1"
}

// hostIPs returns the host's global unicast IPv4 addresses.
func hostIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

// firstServiceIP is the ClusterIP of the "kubernetes" service.
func firstServiceIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ip := n.IP.To4()
	if ip == nil {
		ip = n.IP
	}
	out := append(net.IP{}, ip...)
	out[len(out)-1]++
	return out, nil
}
