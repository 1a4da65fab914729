package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/internal/testserver"
	"berth/join"
	"berth/pki"
)

func runBerth(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestTokenCommands: `berth token create` stores a bootstrap token and
// prints a join token pinning the cluster CA; list shows it; delete
// removes it.
func TestTokenCommands(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx := context.Background()
	out, err := runBerth(t, "token", "create", "--kubeconfig", s.Kubeconfig, "--ttl", "2h", "--description", "for node-2")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	jt, err := join.ParseJoinToken(out)
	if err != nil {
		t.Fatalf("printed %q: %v", out, err)
	}
	ca, err := pki.LoadCA(filepath.Join(s.Config.DataDir, "tls", "ca.crt"), filepath.Join(s.Config.DataDir, "tls", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if jt.CAHash != join.CAHash(ca.Cert) {
		t.Errorf("token pins %s, the cluster CA is %s", jt.CAHash, join.CAHash(ca.Cert))
	}
	sec, err := s.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+jt.Token.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["token-secret"]) != jt.Token.Secret || string(sec.Data["description"]) != "for node-2" ||
		string(sec.Data["usage-bootstrap-authentication"]) != "true" || sec.Type != "bootstrap.kubernetes.io/token" {
		t.Errorf("secret = %v %v", sec.Type, sec.Data)
	}
	if exp, ok := join.Expiration(sec); !ok || time.Until(exp) < 119*time.Minute || time.Until(exp) > 2*time.Hour {
		t.Errorf("expires %v", exp)
	}

	// --data-dir finds the admin kubeconfig; --ttl 0 never expires.
	out, err = runBerth(t, "token", "create", "--data-dir", s.Config.DataDir, "--ttl", "0")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	forever, err := join.ParseJoinToken(out)
	if err != nil {
		t.Fatal(err)
	}

	out, err = runBerth(t, "token", "list", "--kubeconfig", s.Kubeconfig)
	if err != nil {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TOKEN") {
		t.Fatalf("token list:\n%s", out)
	}
	for _, want := range []string{jt.Token.String(), "for node-2", "authentication,signing", join.GroupDefaultNodeToken} {
		if !strings.Contains(out, want) {
			t.Errorf("token list lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, forever.Token.String()) || !strings.Contains(out, "<forever>") {
		t.Errorf("token list lacks the token without expiry:\n%s", out)
	}

	if out, err := runBerth(t, "token", "delete", "--kubeconfig", s.Kubeconfig, jt.String()); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("token delete: %v\n%s", err, out)
	}
	if _, err := s.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+jt.Token.ID, metav1.GetOptions{}); err == nil {
		t.Error("deleted token still stored")
	}
	if _, err := runBerth(t, "token", "delete", "--kubeconfig", s.Kubeconfig, jt.Token.ID); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("deleting again: %v", err)
	}
}

func TestTokenCreateNeedsAKubeconfig(t *testing.T) {
	_, err := runBerth(t, "token", "create", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "admin.kubeconfig") {
		t.Errorf("without a kubeconfig: %v", err)
	}
	if _, err := runBerth(t, "token", "create", "--kubeconfig", "x", "--ttl", "-1h"); err == nil {
		t.Error("negative ttl accepted")
	}
}
