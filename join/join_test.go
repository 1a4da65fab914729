package join_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth/controller"
	"berth/controller/certificates"
	"berth/internal/testserver"
	"berth/join"
	"berth/pki"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// cluster is a test server (which serves CSRs, authenticates bootstrap
// tokens and publishes cluster-info) with the approver and the signer
// running.
type cluster struct {
	s   *testserver.Server
	ca  *pki.CA
	url string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	dir := filepath.Join(s.Config.DataDir, "tls")
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	s.RunControllers(t, controller.Options{},
		certificates.NewApprover,
		func(sh *controller.Shared) (controller.Controller, error) {
			return certificates.NewWithConfig(sh, certificates.Config{CA: ca})
		},
	)
	// Joining nodes reach the server at the address in its kubeconfig.
	return &cluster{s: s, ca: ca, url: s.Rest.Host}
}

// token stores a bootstrap token made at now with ttl, and returns the
// join token for it.
func (c *cluster) token(t *testing.T, now time.Time, ttl time.Duration) join.JoinToken {
	t.Helper()
	tok, err := join.NewBootstrapToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.Client.CoreV1().Secrets(join.TokenNamespace).Create(context.Background(), join.TokenSecret(tok, "test", ttl, now), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return join.JoinToken{CAHash: join.CAHash(c.ca.Cert), Token: tok}
}

func (c *cluster) csrs(t *testing.T) []certificatesv1.CertificateSigningRequest {
	t.Helper()
	list, err := c.s.Client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (c *cluster) config(dir, token string) join.Config {
	return join.Config{
		Server: c.url, Token: token, NodeName: "node-1", Dir: dir,
		ServingIPs: []net.IP{net.ParseIP("127.0.0.1")}, Timeout: 30 * time.Second, Logger: quiet,
	}
}

func loadCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCert(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func approvedAndIssued(c certificatesv1.CertificateSigningRequest) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == certificatesv1.CertificateApproved {
			return len(c.Status.Certificate) > 0
		}
	}
	return false
}

// TestJoin: a token from the server, a join, the node's certificates
// approved and issued, the node reaching the API as system:node:node-1; a
// later start reuses the credentials without the token, and renews them
// late in their life with the node's own identity.
func TestJoin(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	jt := c.token(t, time.Now(), time.Hour)
	dir := t.TempDir()
	creds, err := join.Join(ctx, c.config(dir, jt.String()))
	if err != nil {
		t.Fatal(err)
	}
	if creds.User != "system:node:node-1" || creds.Server != c.url || string(creds.CAPEM) != string(c.ca.PEM) {
		t.Errorf("credentials: user %q server %q", creds.User, creds.Server)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.Cert)
	client := loadCert(t, creds.ClientCertFile)
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if client.Subject.CommonName != "system:node:node-1" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("client subject = %v", client.Subject)
	}
	serving := loadCert(t, creds.ServingCertFile)
	if _, err := serving.Verify(x509.VerifyOptions{Roots: pool, DNSName: "node-1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	if len(serving.IPAddresses) != 1 || !serving.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("serving addresses = %v", serving.IPAddresses)
	}
	if info, err := os.Stat(creds.ClientKeyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("client key: %v %v", err, info)
	}

	// Two requests, both approved and issued: the client one asked with
	// the token, the serving one by the node.
	reqs := c.csrs(t)
	if len(reqs) != 2 {
		t.Fatalf("%d certificate requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if !approvedAndIssued(r) {
			t.Errorf("%s not approved and issued: %+v", r.Name, r.Status.Conditions)
		}
		switch r.Spec.SignerName {
		case certificatesv1.KubeAPIServerClientKubeletSignerName:
			if r.Spec.Username != "system:bootstrap:"+jt.Token.ID || !slices.Contains(r.Spec.Groups, join.GroupDefaultNodeToken) {
				t.Errorf("client request by %q %q", r.Spec.Username, r.Spec.Groups)
			}
		case certificatesv1.KubeletServingSignerName:
			if r.Spec.Username != "system:node:node-1" || !slices.Contains(r.Spec.Groups, "system:nodes") {
				t.Errorf("serving request by %q %q", r.Spec.Username, r.Spec.Groups)
			}
		default:
			t.Errorf("request %s for signer %s", r.Name, r.Spec.SignerName)
		}
	}

	// The issued certificate reaches the API server itself as the node.
	rc := rest.CopyConfig(creds.Rest)
	rc.Host = c.s.Rest.Host
	node := kubernetes.NewForConfigOrDie(rc)
	probe := reqs[0].DeepCopy()
	probe.ObjectMeta = metav1.ObjectMeta{Name: "whoami"}
	probe.Spec.SignerName = "example.com/whoami"
	probe.Status = certificatesv1.CertificateSigningRequestStatus{}
	who, err := node.CertificatesV1().CertificateSigningRequests().Create(ctx, probe, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if who.Spec.Username != "system:node:node-1" || !slices.Contains(who.Spec.Groups, "system:nodes") {
		t.Errorf("the node is %q in %q", who.Spec.Username, who.Spec.Groups)
	}
	if err := c.s.Client.CertificatesV1().CertificateSigningRequests().Delete(ctx, "whoami", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A later start needs no token and asks for nothing.
	again, err := join.Join(ctx, c.config(dir, ""))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.csrs(t)); n != 2 {
		t.Errorf("restart made %d requests", n-2)
	}
	if !again.ClientNotAfter.Equal(creds.ClientNotAfter) || !again.ServingNotAfter.Equal(creds.ServingNotAfter) {
		t.Error("restart changed the certificates")
	}

	// Late in their life, the certificates are renewed with the node's own
	// identity (the token may be long gone).
	if err := c.s.Client.CoreV1().Secrets(join.TokenNamespace).Delete(ctx, "bootstrap-token-"+jt.Token.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	late := c.config(dir, "")
	late.Now = func() time.Time { return time.Now().Add(300 * 24 * time.Hour) }
	if _, err := join.Join(ctx, late); err != nil {
		t.Fatal(err)
	}
	renewed := loadCert(t, creds.ClientCertFile)
	if renewed.SerialNumber.Cmp(client.SerialNumber) == 0 {
		t.Error("client certificate not renewed")
	}
	if loadCert(t, creds.ServingCertFile).SerialNumber.Cmp(serving.SerialNumber) == 0 {
		t.Error("serving certificate not renewed")
	}
	var renewals int
	for _, r := range c.csrs(t) {
		if r.Spec.Username == "system:node:node-1" && r.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName {
			renewals++
			if !approvedAndIssued(r) {
				t.Errorf("renewal %s not approved and issued", r.Name)
			}
		}
	}
	if renewals != 1 {
		t.Errorf("%d client renewals by the node, want 1", renewals)
	}

	// A renewal that cannot reach the server keeps the certificates: the
	// node still starts.
	down := late
	down.Server = "https://127.0.0.1:1"
	kept, err := join.Join(ctx, down)
	if err != nil {
		t.Fatalf("join with the server down: %v", err)
	}
	if loadCert(t, kept.ClientCertFile).SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Error("client certificate changed with the server down")
	}
}

// TestJoinRefused: a wrong or expired token, a server with another CA, an
// unreachable server, no token: each is refused with a message saying so,
// and nothing is requested.
func TestJoinRefused(t *testing.T) {
	c := startCluster(t)
	now := time.Now()
	good := c.token(t, now, time.Hour)
	expired := c.token(t, now.Add(-2*time.Hour), time.Hour)
	wrongSecret := good
	wrongSecret.Token.Secret = strings.Repeat("0", 16)
	unknown, err := join.NewBootstrapToken()
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "ca.crt"), filepath.Join(t.TempDir(), "ca.key"), "other")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mod    func(*join.Config)
		target error
		msg    string
	}{
		{"wrong secret", func(cfg *join.Config) { cfg.Token = wrongSecret.String() }, join.ErrTokenRefused, "the join token was refused: wrong or expired"},
		{"unknown token", func(cfg *join.Config) {
			cfg.Token = join.JoinToken{CAHash: good.CAHash, Token: unknown}.String()
		}, join.ErrTokenRefused, "the join token was refused: wrong or expired"},
		{"expired token", func(cfg *join.Config) { cfg.Token = expired.String() }, join.ErrTokenRefused, "the join token was refused: wrong or expired"},
		{"another cluster's CA", func(cfg *join.Config) {
			cfg.Token = join.JoinToken{CAHash: join.CAHash(otherCA.Cert), Token: good.Token}.String()
		}, join.ErrCAMismatch, "the server's CA does not match the token"},
		{"unreachable server", func(cfg *join.Config) { cfg.Token, cfg.Server = good.String(), "https://127.0.0.1:1" }, nil, "cannot reach the server at https://127.0.0.1:1"},
		{"no token", func(cfg *join.Config) { cfg.Token = "" }, nil, "give a join token"},
		{"bare bootstrap token", func(cfg *join.Config) { cfg.Token = good.Token.String() }, join.ErrNoCAHash, "has no CA hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := c.config(t.TempDir(), "")
			tc.mod(&cfg)
			_, err := join.Join(context.Background(), cfg)
			if err == nil {
				t.Fatal("join succeeded")
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("err = %v, want %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to say %q", err, tc.msg)
			}
			if entries, _ := os.ReadDir(cfg.Dir); len(entries) != 0 {
				t.Errorf("refused join left %d files", len(entries))
			}
		})
	}
	if n := len(c.csrs(t)); n != 0 {
		t.Errorf("refused joins made %d certificate requests", n)
	}

	// A request nobody approves (a serving certificate for another node's
	// address) ends the wait with what to do about it.
	ctx := context.Background()
	other, err := c.s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.9.9.9"}}
	if _, err := c.s.Client.CoreV1().Nodes().UpdateStatus(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := c.config(t.TempDir(), good.String())
	cfg.ServingIPs, cfg.Timeout = []net.IP{net.ParseIP("10.9.9.9")}, 2*time.Second
	_, err = join.Join(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "was not approved and issued within 2s: approve it with `kubectl certificate approve node-csr-") {
		t.Errorf("unapproved request: %v", err)
	}
}
