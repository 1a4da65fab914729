package certificates

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/pki"
)

var (
	clientECDSA  = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	clientRSA    = []certificatesv1.KeyUsage{certificatesv1.UsageKeyEncipherment, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	servingECDSA = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
)

// x509Request describes the PKCS#10 part of a test request.
type x509Request struct {
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	emails []string
	uris   []*url.URL
}

func makeRequest(t *testing.T, r x509Request) (*x509.CertificateRequest, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: r.cn, Organization: r.orgs}, DNSNames: r.dns, IPAddresses: r.ips, EmailAddresses: r.emails, URIs: r.uris,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return req, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func node(name string) x509Request {
	return x509Request{cn: "system:node:" + name, orgs: []string{"system:nodes"}}
}

var (
	bootstrapper = []string{"system:bootstrappers", "system:bootstrappers:berth:default-node-token", "system:authenticated"}
	nodes        = []string{"system:nodes", "system:authenticated"}
)

func TestDecide(t *testing.T) {
	client, serving := certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeletServingSignerName
	withIPs := func(r x509Request, ips ...string) x509Request {
		for _, ip := range ips {
			r.ips = append(r.ips, net.ParseIP(ip))
		}
		return r
	}
	withDNS := func(r x509Request, names ...string) x509Request { r.dns = names; return r }
	taken := map[string]bool{"10.0.0.2": true}
	tests := []struct {
		name    string
		signer  string
		user    string
		groups  []string
		req     x509Request
		usages  []certificatesv1.KeyUsage
		approve bool
	}{
		{"bootstrap token asks for a node client certificate", client, "system:bootstrap:abcdef", bootstrapper, node("n1"), clientECDSA, true},
		{"with RSA usages", client, "system:bootstrap:abcdef", bootstrapper, node("n1"), clientRSA, true},
		{"administrator asks for one", client, "system:admin", []string{"system:masters", "system:authenticated"}, node("n1"), clientECDSA, true},
		{"node renews its own", client, "system:node:n1", nodes, node("n1"), clientECDSA, true},
		{"node asks for another node's", client, "system:node:n1", nodes, node("n2"), clientECDSA, false},
		{"ordinary user", client, "jane", []string{"system:authenticated"}, node("n1"), clientECDSA, false},
		{"wrong organization", client, "system:bootstrap:abcdef", bootstrapper, x509Request{cn: "system:node:n1", orgs: []string{"system:masters"}}, clientECDSA, false},
		{"extra organization", client, "system:bootstrap:abcdef", bootstrapper, x509Request{cn: "system:node:n1", orgs: []string{"system:nodes", "system:masters"}}, clientECDSA, false},
		{"not a node name", client, "system:bootstrap:abcdef", bootstrapper, x509Request{cn: "admin", orgs: []string{"system:nodes"}}, clientECDSA, false},
		{"client with a DNS name", client, "system:bootstrap:abcdef", bootstrapper, withDNS(node("n1"), "n1"), clientECDSA, false},
		{"client with server usage", client, "system:bootstrap:abcdef", bootstrapper, node("n1"),
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth, certificatesv1.UsageServerAuth}, false},
		{"node serving for its name and address", serving, "system:node:n1", nodes, withIPs(withDNS(node("n1"), "n1"), "10.0.0.1"), servingECDSA, true},
		{"node serving for its address only", serving, "system:node:n1", nodes, withIPs(node("n1"), "10.0.0.1", "127.0.0.1"), servingECDSA, true},
		{"serving for another node's address", serving, "system:node:n1", nodes, withIPs(node("n1"), "10.0.0.2"), servingECDSA, false},
		{"serving for another name", serving, "system:node:n1", nodes, withDNS(node("n1"), "kubernetes.default.svc"), servingECDSA, false},
		{"serving for another node", serving, "system:node:n1", nodes, withDNS(node("n2"), "n2"), servingECDSA, false},
		{"serving asked by a bootstrap token", serving, "system:bootstrap:abcdef", bootstrapper, withDNS(node("n1"), "n1"), servingECDSA, false},
		{"serving without names", serving, "system:node:n1", nodes, node("n1"), servingECDSA, false},
		{"serving with client usage", serving, "system:node:n1", nodes, withDNS(node("n1"), "n1"), clientECDSA, false},
		{"serving for 0.0.0.0", serving, "system:node:n1", nodes, withIPs(node("n1"), "0.0.0.0"), servingECDSA, false},
		{"API server client certificates are for people to approve", certificatesv1.KubeAPIServerClientSignerName, "system:node:n1", nodes, node("n1"), clientECDSA, false},
		{"custom signer", "example.com/x", "system:admin", []string{"system:masters"}, node("n1"), clientECDSA, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, data := makeRequest(t, tc.req)
			csr := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
				Request: data, SignerName: tc.signer, Usages: tc.usages, Username: tc.user, Groups: tc.groups,
			}}
			ok, msg := Decide(csr, req, taken)
			if ok != tc.approve {
				t.Errorf("approve = %v (%s), want %v", ok, msg, tc.approve)
			}
			if ok && msg == "" {
				t.Error("approved without a message")
			}
		})
	}
}

func TestValidateForSigners(t *testing.T) {
	tests := []struct {
		name   string
		signer string
		req    x509Request
		usages []certificatesv1.KeyUsage
		known  bool
		err    string
	}{
		{"kubelet client", certificatesv1.KubeAPIServerClientKubeletSignerName, node("n1"), clientECDSA, true, ""},
		{"kubelet client with an e-mail", certificatesv1.KubeAPIServerClientKubeletSignerName, x509Request{cn: "system:node:n1", orgs: []string{"system:nodes"}, emails: []string{"a@b.c"}}, clientECDSA, true, "Email subjectAltNames are not allowed"},
		{"kubelet serving with a URI", certificatesv1.KubeletServingSignerName, x509Request{cn: "system:node:n1", orgs: []string{"system:nodes"}, dns: []string{"n1"}, uris: []*url.URL{{Scheme: "spiffe", Host: "x"}}}, servingECDSA, true, "URI subjectAltNames are not allowed"},
		{"API server client", certificatesv1.KubeAPIServerClientSignerName, x509Request{cn: "jane", orgs: []string{"dev"}}, []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, true, ""},
		{"API server client for system:masters", certificatesv1.KubeAPIServerClientSignerName, x509Request{cn: "jane", orgs: []string{"system:masters"}}, []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, true, "system:masters group is not allowed"},
		{"API server client without client auth", certificatesv1.KubeAPIServerClientSignerName, x509Request{cn: "jane"}, []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature}, true, "missing required usage"},
		{"API server client for serving", certificatesv1.KubeAPIServerClientSignerName, x509Request{cn: "jane"}, []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageServerAuth}, true, "invalid usage"},
		{"someone else's signer", "example.com/x", x509Request{cn: "jane"}, clientECDSA, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := makeRequest(t, tc.req)
			known, err := validateFor(tc.signer, req, tc.usages)
			if known != tc.known {
				t.Errorf("known = %v", known)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func testCA(t *testing.T) *pki.CA {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir+"/ca.crt", dir+"/ca.key", "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestSign(t *testing.T) {
	ca := testCA(t)
	now := time.Now().Truncate(time.Second)
	r := node("n1")
	r.dns, r.ips = []string{"n1"}, []net.IP{net.ParseIP("10.0.0.1")}
	req, _ := makeRequest(t, r)
	out, err := sign(ca, req, []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth}, 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCert(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	if cert.Subject.CommonName != "system:node:n1" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject = %v", cert.Subject)
	}
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "n1" || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) {
		t.Errorf("names = %v %v", cert.DNSNames, cert.IPAddresses)
	}
	if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment || len(cert.ExtKeyUsage) != 2 {
		t.Errorf("usages = %v %v, CA %v", cert.KeyUsage, cert.ExtKeyUsage, cert.IsCA)
	}
	if !cert.NotBefore.Equal(now.Add(-backdate)) || !cert.NotAfter.Equal(now.Add(24*time.Hour-backdate)) {
		t.Errorf("valid %v to %v", cert.NotBefore, cert.NotAfter)
	}
	// Short-lived certificates end when asked; none outlives the CA.
	short, err := sign(ca, req, clientECDSA, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := pki.ParseCert(short); !c.NotAfter.Equal(now.Add(time.Hour)) {
		t.Errorf("short-lived certificate ends %v", c.NotAfter)
	}
	long, err := sign(ca, req, clientECDSA, 100*365*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := pki.ParseCert(long); !c.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("certificate outlives the CA: %v > %v", c.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := sign(ca, req, []certificatesv1.KeyUsage{"flying"}, time.Hour, now); err == nil {
		t.Error("unknown usage signed")
	}
	if _, err := sign(ca, req, clientECDSA, time.Hour, ca.Cert.NotAfter.Add(time.Second)); err == nil {
		t.Error("signed with an expired CA")
	}
}

func TestLifetime(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, tc := range []struct {
		seconds *int32
		want    time.Duration
	}{
		{nil, year},
		{ptr(int32(3600)), time.Hour},
		{ptr(int32(60)), 10 * time.Minute},
		{ptr(int32(2147483647)), year},
	} {
		if got := lifetime(tc.seconds, year); got != tc.want {
			t.Errorf("lifetime(%v) = %v, want %v", tc.seconds, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestStale(t *testing.T) {
	ca := testCA(t)
	now := time.Now()
	req, _ := makeRequest(t, node("n1"))
	expired, err := sign(ca, req, clientECDSA, time.Hour, now.Add(-3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	valid, err := sign(ca, req, clientECDSA, time.Hour, now.Add(-30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	cond := func(typ certificatesv1.RequestConditionType, ago time.Duration) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, LastUpdateTime: metav1.NewTime(now.Add(-ago))}
	}
	tests := []struct {
		name    string
		created time.Duration
		conds   []certificatesv1.CertificateSigningRequestCondition
		cert    []byte
		stale   bool
	}{
		{"pending an hour", time.Hour, nil, nil, false},
		{"pending two days", 48 * time.Hour, nil, nil, true},
		{"approved long ago, not issued", 48 * time.Hour, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, 47*time.Hour)}, nil, false},
		{"issued a minute ago", time.Minute, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, time.Minute)}, valid, false},
		{"issued two hours ago", 2 * time.Hour, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, 2*time.Hour)}, valid, true},
		{"certificate expired", 3 * time.Minute, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, time.Minute)}, expired, true},
		{"denied a minute ago", time.Minute, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateDenied, time.Minute)}, nil, false},
		{"denied two hours ago", 2 * time.Hour, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateDenied, 2*time.Hour)}, nil, true},
		{"failed two hours ago", 2 * time.Hour, []certificatesv1.CertificateSigningRequestCondition{cond(certificatesv1.CertificateApproved, 2*time.Hour), cond(certificatesv1.CertificateFailed, 2*time.Hour)}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			csr := &certificatesv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(now.Add(-tc.created))},
				Status:     certificatesv1.CertificateSigningRequestStatus{Conditions: tc.conds, Certificate: tc.cert},
			}
			if why := Stale(csr, now); (why != "") != tc.stale {
				t.Errorf("Stale = %q, want stale %v", why, tc.stale)
			}
		})
	}
}
