package certificates_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"path/filepath"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth/apiserver/registry/certificates/csr"
	"berth/controller"
	"berth/controller/certificates"
	"berth/internal/testserver"
	"berth/pki"
)

// start runs a test server serving CSRs with the approver, the signer and
// the cleaner, and returns it with its CA.
func start(t *testing.T) (*testserver.Server, *pki.CA) {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	if _, err := s.Client.Discovery().ServerResourcesForGroupVersion("certificates.k8s.io/v1"); err != nil {
		if err := s.Server.AddResource(csr.Resource()); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(s.Config.DataDir, "tls")
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	s.RunControllers(t, controller.Options{},
		certificates.NewApprover,
		func(sh *controller.Shared) (controller.Controller, error) {
			return certificates.NewWithConfig(sh, certificates.Config{CA: ca, Duration: 48 * time.Hour})
		},
		certificates.NewCleaner,
	)
	return s, ca
}

// clientAs returns a client authenticated as user in groups, with a
// certificate from the cluster CA.
func clientAs(t *testing.T, s *testserver.Server, ca *pki.CA, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.Issue(pki.Leaf{CommonName: user, Organization: groups}, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	rc := rest.CopyConfig(s.Rest)
	rc.TLSClientConfig = rest.TLSClientConfig{CAData: ca.PEM, CertData: certPEM, KeyData: keyPEM}
	return kubernetes.NewForConfigOrDie(rc)
}

func newRequest(t *testing.T, name, signer string, subject pkix.Name, dns []string, ips []net.IP, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), SignerName: signer, Usages: usages,
		},
	}
}

// waitFor polls a request until ok holds.
func waitFor(t *testing.T, c kubernetes.Interface, name string, what string, ok func(*certificatesv1.CertificateSigningRequest) bool) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := c.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s: %v %+v", name, what, err, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func has(c *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType) *certificatesv1.CertificateSigningRequestCondition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == typ {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}

func issued(c *certificatesv1.CertificateSigningRequest) bool { return len(c.Status.Certificate) > 0 }

func checkIssued(t *testing.T, ca *pki.CA, c *certificatesv1.CertificateSigningRequest, cn string, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	cert, err := pki.ParseCert(c.Status.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("%s: issued certificate does not verify: %v", c.Name, err)
	}
	if cert.Subject.CommonName != cn {
		t.Errorf("%s: issued for %q", c.Name, cert.Subject.CommonName)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life != 48*time.Hour {
		t.Errorf("%s: valid for %v, want the configured 48h", c.Name, life)
	}
	return cert
}

func TestApproveAndSign(t *testing.T) {
	s, ca := start(t)
	ctx := context.Background()
	nodeSubject := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	clientUsages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	servingUsages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	admin := s.Client.CertificatesV1().CertificateSigningRequests()

	// A bootstrap token user's node client request: approved and issued.
	bootstrapper := clientAs(t, s, ca, "system:bootstrap:abcdef", "system:bootstrappers")
	if _, err := bootstrapper.CertificatesV1().CertificateSigningRequests().Create(ctx,
		newRequest(t, "node-client", certificatesv1.KubeAPIServerClientKubeletSignerName, nodeSubject, nil, nil, clientUsages...), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, s.Client, "node-client", "issued", issued)
	if c := has(got, certificatesv1.CertificateApproved); c == nil || c.Reason != "AutoApproved" || c.Status != corev1.ConditionTrue {
		t.Errorf("node-client conditions = %+v", got.Status.Conditions)
	}
	checkIssued(t, ca, got, "system:node:n1", x509.ExtKeyUsageClientAuth)

	// The node's serving request for its own name and address.
	n1 := clientAs(t, s, ca, "system:node:n1", "system:nodes")
	if _, err := n1.CertificatesV1().CertificateSigningRequests().Create(ctx,
		newRequest(t, "node-serving", certificatesv1.KubeletServingSignerName, nodeSubject, []string{"n1"}, []net.IP{net.ParseIP("10.1.2.3")}, servingUsages...), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, s.Client, "node-serving", "issued", issued)
	cert := checkIssued(t, ca, got, "system:node:n1", x509.ExtKeyUsageServerAuth)
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "n1" || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) {
		t.Errorf("serving names = %v %v", cert.DNSNames, cert.IPAddresses)
	}

	// Requests nobody approves automatically.
	jane := newRequest(t, "jane", certificatesv1.KubeAPIServerClientSignerName, pkix.Name{CommonName: "jane", Organization: []string{"dev"}}, nil, nil, certificatesv1.UsageClientAuth)
	root := newRequest(t, "root", certificatesv1.KubeAPIServerClientSignerName, pkix.Name{CommonName: "root", Organization: []string{"system:masters"}}, nil, nil, certificatesv1.UsageClientAuth)
	custom := newRequest(t, "custom", "example.com/signer", pkix.Name{CommonName: "x"}, nil, nil, certificatesv1.UsageClientAuth)
	stolen := newRequest(t, "stolen-serving", certificatesv1.KubeletServingSignerName, pkix.Name{CommonName: "system:node:n2", Organization: []string{"system:nodes"}}, []string{"n2"}, nil, servingUsages...)
	for _, r := range []*certificatesv1.CertificateSigningRequest{jane, root, custom} {
		if _, err := admin.Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n1.CertificatesV1().CertificateSigningRequests().Create(ctx, stolen, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An administrator approves them; the signer issues what its rules
	// allow and fails the rest.
	for _, name := range []string{"jane", "root", "custom"} {
		c, err := admin.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Status.Conditions) != 0 {
			t.Errorf("%s was decided without an administrator: %+v", name, c.Status.Conditions)
		}
		c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Admin"})
		if _, err := admin.UpdateApproval(ctx, name, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	checkIssued(t, ca, waitFor(t, s.Client, "jane", "issued", issued), "jane", x509.ExtKeyUsageClientAuth)
	failed := waitFor(t, s.Client, "root", "failed", func(c *certificatesv1.CertificateSigningRequest) bool {
		return has(c, certificatesv1.CertificateFailed) != nil
	})
	if c := has(failed, certificatesv1.CertificateFailed); c.Reason != "SignerValidationFailure" || issued(failed) {
		t.Errorf("root: %+v", failed.Status)
	}
	// Both went through the same queue as jane's: by now they would have
	// been touched.
	for _, name := range []string{"custom", "stolen-serving"} {
		c, err := admin.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if issued(c) || has(c, certificatesv1.CertificateFailed) != nil || (name == "stolen-serving" && len(c.Status.Conditions) > 0) {
			t.Errorf("%s: %+v", name, c.Status)
		}
	}
}

func TestSignerNeedsCA(t *testing.T) {
	if _, err := certificates.NewWithConfig(&controller.Shared{}, certificates.Config{}); err == nil {
		t.Fatal("signer without a CA accepted")
	}
}
