package csr_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry/certificates/csr"
	"berth/internal/testserver"
)

// serve adds the CSR resource to a test server unless it serves it
// already.
func serve(t *testing.T, s *testserver.Server) {
	t.Helper()
	if _, err := s.Client.Discovery().ServerResourcesForGroupVersion("certificates.k8s.io/v1"); err == nil {
		return
	}
	if err := s.Server.AddResource(csr.Resource()); err != nil {
		t.Fatal(err)
	}
}

func request(t *testing.T, name, signer string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        signer,
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
			ExpirationSeconds: ptr(int32(3600)),
			Username:          "forged",
		},
	}
}

func ptr[T any](v T) *T { return &v }

func certificate(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jane"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func condition(c *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType) *certificatesv1.CertificateSigningRequestCondition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == typ {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}

// TestServed runs the resource in a real API server: the requestor is
// recorded, spec is immutable, approval and certificate change only through
// their subresources, as in Kubernetes.
func TestServed(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	serve(t, s)
	ctx := context.Background()
	csrs := s.Client.CertificatesV1().CertificateSigningRequests()

	c1, err := csrs.Create(ctx, request(t, "jane-1", "example.com/dev"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c1.Spec.Username != "system:admin" || !slices.Contains(c1.Spec.Groups, "system:masters") || !slices.Contains(c1.Spec.Groups, "system:authenticated") {
		t.Errorf("requestor = %q %q, want the admin", c1.Spec.Username, c1.Spec.Groups)
	}
	// A bad request is refused with the field at fault.
	bad := request(t, "jane-bad", "example.com/dev")
	bad.Spec.Request = []byte("not a request")
	if _, err := csrs.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.request") {
		t.Errorf("bad request: %v", err)
	}

	// spec is immutable: an update keeps the stored one.
	changed := c1.DeepCopy()
	changed.Spec.SignerName = "example.com/other"
	changed.Labels = map[string]string{"team": "dev"}
	out, err := csrs.Update(ctx, changed, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Spec.SignerName != "example.com/dev" || out.Labels["team"] != "dev" {
		t.Errorf("update: signer %q labels %v", out.Spec.SignerName, out.Labels)
	}

	// The main resource cannot approve; /approval can.
	approve := out.DeepCopy()
	approve.Status.Conditions = append(approve.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test",
	})
	if _, err := csrs.UpdateStatus(ctx, approve, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("approval through status: %v, want 422", err)
	}
	approved, err := csrs.UpdateApproval(ctx, approve.Name, approve, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(approved, certificatesv1.CertificateApproved); c == nil || c.LastUpdateTime.IsZero() || c.LastTransitionTime.IsZero() {
		t.Errorf("approved conditions = %+v", approved.Status.Conditions)
	}
	// A stale resourceVersion conflicts.
	if _, err := csrs.UpdateApproval(ctx, approve.Name, approve, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale approval: %v, want 409", err)
	}
	// Approved and Denied exclude each other; approvals are not removed.
	deny := approved.DeepCopy()
	deny.Status.Conditions = append(deny.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue})
	if _, err := csrs.UpdateApproval(ctx, deny.Name, deny, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("approved and denied: %v, want 422", err)
	}
	unapprove := approved.DeepCopy()
	unapprove.Status.Conditions = nil
	if _, err := csrs.UpdateApproval(ctx, unapprove.Name, unapprove, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("removing the approval: %v, want 422", err)
	}

	// The certificate is set once, through /status.
	issue := approved.DeepCopy()
	issue.Status.Certificate = certificate(t)
	issued, err := csrs.UpdateStatus(ctx, issue, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(issued.Status.Certificate) == 0 || condition(issued, certificatesv1.CertificateApproved) == nil {
		t.Errorf("issued status = %+v", issued.Status)
	}
	again := issued.DeepCopy()
	again.Status.Certificate = certificate(t)
	if _, err := csrs.UpdateStatus(ctx, again, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("replacing the certificate: %v, want 422", err)
	}

	// spec.signerName is a field selector.
	if _, err := csrs.Create(ctx, request(t, "other-1", "example.com/other"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := csrs.List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=example.com/dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "jane-1" {
		t.Errorf("selected %d requests", len(list.Items))
	}
}

// TestKubectl approves and denies with kubectl, and lists requests with
// Kubernetes' columns.
func TestKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	s := testserver.Start(t, testserver.Bare)
	serve(t, s)
	ctx := context.Background()
	csrs := s.Client.CertificatesV1().CertificateSigningRequests()
	for _, name := range []string{"to-approve", "to-deny"} {
		if _, err := csrs.Create(ctx, request(t, name, "example.com/dev"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", s.Kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("certificate", "approve", "to-approve"); !strings.Contains(out, "to-approve approved") {
		t.Errorf("approve said %q", out)
	}
	if out := run("certificate", "deny", "to-deny"); !strings.Contains(out, "to-deny denied") {
		t.Errorf("deny said %q", out)
	}
	a, err := csrs.Get(ctx, "to-approve", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(a, certificatesv1.CertificateApproved); c == nil || c.Reason != "KubectlApprove" {
		t.Errorf("approved conditions = %+v", a.Status.Conditions)
	}
	d, err := csrs.Get(ctx, "to-deny", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(d, certificatesv1.CertificateDenied); c == nil || c.Reason != "KubectlDeny" {
		t.Errorf("denied conditions = %+v", d.Status.Conditions)
	}
	out := run("get", "csr")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION" {
		t.Fatalf("kubectl get csr:\n%s", out)
	}
	for _, want := range []string{"to-approve", "example.com/dev", "system:admin", "60m", "Approved"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if !strings.Contains(lines[2], "Denied") {
		t.Errorf("row %q is not Denied", lines[2])
	}
}
