package csr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/request"
)

func requestPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func certPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "node-csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    requestPEM(t, "system:node:n1"),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s: %s", e.Field, e.Type))
	}
	slices.Sort(out)
	return out
}

func expect(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	slices.Sort(want)
	if want == nil {
		want = []string{}
	}
	if got := summary(errs); !slices.Equal(got, want) {
		t.Errorf("errors = %q, want %q\n%v", got, want, errs)
	}
}

func TestPrepareForCreateRecordsTheUser(t *testing.T) {
	csr := newCSR(t)
	csr.Spec.Username, csr.Spec.Groups = "system:admin", []string{"system:masters"}
	csr.Spec.Extra = map[string]certificatesv1.ExtraValue{"forged": {"x"}}
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	csr.Status.Certificate = certPEM(t)
	ctx := request.WithUser(context.Background(), &authnv1.UserInfo{
		Username: "system:bootstrap:abcdef", UID: "u1", Groups: []string{"system:bootstrappers", "system:authenticated"},
		Extra: map[string]authnv1.ExtraValue{"scopes": {"a"}},
	})
	PrepareForCreate(ctx, csr)
	if csr.Spec.Username != "system:bootstrap:abcdef" || csr.Spec.UID != "u1" ||
		!slices.Equal(csr.Spec.Groups, []string{"system:bootstrappers", "system:authenticated"}) ||
		len(csr.Spec.Extra) != 1 || !slices.Equal(csr.Spec.Extra["scopes"], certificatesv1.ExtraValue{"a"}) {
		t.Errorf("spec user = %q %q %q %v", csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra)
	}
	if len(csr.Status.Conditions) != 0 || len(csr.Status.Certificate) != 0 {
		t.Errorf("a new request kept status %+v", csr.Status)
	}
	anon := newCSR(t)
	anon.Spec.Username = "forged"
	PrepareForCreate(context.Background(), anon)
	if anon.Spec.Username != "" {
		t.Errorf("without a user the requestor is %q", anon.Spec.Username)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*certificatesv1.CertificateSigningRequest)
		want []string
	}{
		{"valid", func(*certificatesv1.CertificateSigningRequest) {}, nil},
		{"not PEM", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") }, []string{"spec.request: Invalid value"}},
		{"a certificate, not a request", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = certPEM(t) }, []string{"spec.request: Invalid value"}},
		{"bad signature", func(c *certificatesv1.CertificateSigningRequest) {
			block, _ := pem.Decode(c.Spec.Request)
			block.Bytes[len(block.Bytes)-3] ^= 0xff
			c.Spec.Request = pem.EncodeToMemory(block)
		}, []string{"spec.request: Invalid value"}},
		{"no usages", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil }, []string{"spec.usages: Required value"}},
		{"unknown usage", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = append(c.Spec.Usages, "flying") },
			[]string{"spec.usages[2]: Unsupported value"}},
		{"duplicate usage", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageClientAuth)
		}, []string{"spec.usages[2]: Duplicate value"}},
		{"no signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" }, []string{"spec.signerName: Required value"}},
		{"signer without path", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com" }, []string{"spec.signerName: Invalid value"}},
		{"signer with one-label domain", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/signer" }, []string{"spec.signerName: Invalid value"}},
		{"custom signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/my-signer" }, nil},
		{"legacy signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" }, []string{"spec.signerName: Invalid value"}},
		{"short duration", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr(int32(599)) }, []string{"spec.expirationSeconds: Invalid value"}},
		{"ten minutes", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr(int32(600)) }, nil},
		{"approved and denied", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{
				{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}, {Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue},
			}
		}, []string{"status.conditions[1].type: Invalid value"}},
		{"approved false", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionFalse}}
		}, []string{"status.conditions[0].status: Unsupported value"}},
		{"condition without type or status", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{}}
		}, []string{"status.conditions[0].status: Required value", "status.conditions[0].type: Required value"}},
		{"custom condition false", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Checked", Status: corev1.ConditionFalse}}
		}, nil},
		{"garbage certificate", func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("garbage") },
			[]string{"status.certificate: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCSR(t)
			tc.mod(c)
			expect(t, Validate(c), tc.want...)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func approvedCond() certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"}
}

func TestUpdatePaths(t *testing.T) {
	issued := certPEM(t)
	tests := []struct {
		name     string
		old, mod func(*certificatesv1.CertificateSigningRequest)
		validate func(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList
		want     []string
	}{
		{"approval adds Approved", nil, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, approvedCond())
		}, ValidateApprovalUpdate, nil},
		{"status may not add Approved", nil, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, approvedCond())
		}, ValidateStatusUpdate, []string{"status.conditions: Forbidden"}},
		{"main may not add Approved", nil, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, approvedCond())
		}, ValidateUpdate, []string{"status.conditions: Forbidden"}},
		{"approval may not remove Approved", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approvedCond()}
		}, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Conditions = nil }, ValidateApprovalUpdate, []string{"status.conditions: Forbidden"}},
		{"status sets the certificate", nil, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = issued }, ValidateStatusUpdate, nil},
		{"status may not replace the certificate", func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = certPEM(t) },
			func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = issued }, ValidateStatusUpdate, []string{"status.certificate: Forbidden"}},
		{"approval may not set the certificate", nil, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = issued },
			ValidateApprovalUpdate, []string{"status.certificate: Forbidden"}},
		{"status adds Failed", nil, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue})
		}, ValidateStatusUpdate, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newCSR(t)
			if tc.old != nil {
				tc.old(old)
			}
			c := old.DeepCopy()
			tc.mod(c)
			expect(t, tc.validate(c, old), tc.want...)
		})
	}
}

func TestPrepareForStatusUpdateKeepsApproval(t *testing.T) {
	old := newCSR(t)
	// Approvals are stored stamped (the approval subresource stamps them).
	approved := approvedCond()
	approved.LastUpdateTime = metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	approved.LastTransitionTime = approved.LastUpdateTime
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved}
	c := old.DeepCopy()
	c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
	c.Status.Conditions[0].Reason = "Forged"
	c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue})
	c.Status.Certificate = certPEM(t)
	PrepareForStatusUpdate(c, old)
	if !slices.Equal(c.Spec.Usages, old.Spec.Usages) {
		t.Errorf("status changed spec: %v", c.Spec.Usages)
	}
	if c.Status.Conditions[0].Reason != "KubectlApprove" {
		t.Errorf("status changed the approval: %+v", c.Status.Conditions[0])
	}
	if f := c.Status.Conditions[1]; f.LastUpdateTime.IsZero() || f.LastTransitionTime.IsZero() {
		t.Errorf("new condition not stamped: %+v", f)
	}
	if len(ValidateStatusUpdate(c, old)) != 0 {
		t.Errorf("status update invalid: %v", ValidateStatusUpdate(c, old))
	}
}

func TestPrepareForApprovalUpdateChangesOnlyConditions(t *testing.T) {
	old := newCSR(t)
	earlier := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Checked", Status: corev1.ConditionTrue, LastTransitionTime: earlier}}
	c := old.DeepCopy()
	c.Spec.SignerName = "example.com/other"
	c.Status.Certificate = certPEM(t)
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Checked", Status: corev1.ConditionTrue}, approvedCond()}
	PrepareForApprovalUpdate(c, old)
	if c.Spec.SignerName != old.Spec.SignerName || len(c.Status.Certificate) != 0 {
		t.Errorf("approval changed more than conditions: %s %d", c.Spec.SignerName, len(c.Status.Certificate))
	}
	if len(c.Status.Conditions) != 2 || !c.Status.Conditions[0].LastTransitionTime.Equal(&earlier) || c.Status.Conditions[1].LastUpdateTime.IsZero() {
		t.Errorf("conditions = %+v", c.Status.Conditions)
	}
}

func TestCells(t *testing.T) {
	c := newCSR(t)
	c.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
	c.Spec.Username = "system:bootstrap:abcdef"
	if got, want := fmt.Sprint(cells(c)), fmt.Sprint([]interface{}{"node-csr-1", "90s", "kubernetes.io/kube-apiserver-client-kubelet", "system:bootstrap:abcdef", "<none>", "Pending"}); got != want {
		t.Errorf("cells = %s, want %s", got, want)
	}
	c.Spec.ExpirationSeconds = ptr(int32(3600))
	if got := cells(c)[4]; got != "60m" {
		t.Errorf("requested duration = %v, want 60m", got)
	}
	for _, tc := range []struct {
		conds  []certificatesv1.RequestConditionType
		issued bool
		want   string
	}{
		{nil, false, "Pending"},
		{[]certificatesv1.RequestConditionType{certificatesv1.CertificateApproved}, false, "Approved"},
		{[]certificatesv1.RequestConditionType{certificatesv1.CertificateApproved}, true, "Approved,Issued"},
		{[]certificatesv1.RequestConditionType{certificatesv1.CertificateDenied}, false, "Denied"},
		{[]certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateFailed}, false, "Approved,Failed"},
		{[]certificatesv1.RequestConditionType{certificatesv1.CertificateFailed}, false, "Pending,Failed"},
	} {
		c.Status = certificatesv1.CertificateSigningRequestStatus{}
		for _, ct := range tc.conds {
			c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: ct, Status: corev1.ConditionTrue})
		}
		if tc.issued {
			c.Status.Certificate = []byte("x")
		}
		if got := Condition(c); got != tc.want {
			t.Errorf("Condition(%v, issued=%v) = %q, want %q", tc.conds, tc.issued, got, tc.want)
		}
	}
}

func TestResource(t *testing.T) {
	r := Resource()
	if r.Namespaced || r.Status == nil || len(r.Extra) != 1 || r.Extra[0].Name != "approval" || !slices.Equal(r.ShortNames, []string{"csr"}) {
		t.Errorf("resource = %+v", r)
	}
	if errs := r.ValidateName("Any_Name.With:Colons", false); len(errs) != 0 {
		t.Errorf("name refused: %v", errs)
	}
	if errs := r.ValidateName("a/b", false); len(errs) == 0 {
		t.Error("a name with a slash accepted")
	}
	if f := r.Fields(newCSR(t)); f["spec.signerName"] != certificatesv1.KubeAPIServerClientKubeletSignerName {
		t.Errorf("fields = %v", f)
	}
}
