package join_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"berth/join"
	"berth/pki"
)

// Credentials written from the CA are what Join finds: no token, no
// request to the server (none listens at the URL), the node's identity.
func TestIssueLocalThenJoin(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	cfg := join.Config{
		Server: "https://127.0.0.1:1", NodeName: "n1", Dir: filepath.Join(dir, "pki"),
		ServingIPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 9, 9, 9)},
	}
	if err := join.IssueLocal(ca, cfg); err != nil {
		t.Fatal(err)
	}
	creds, err := join.Join(context.Background(), cfg)
	if err != nil {
		t.Fatalf("join with local credentials: %v", err)
	}
	if creds.User != "system:node:n1" || creds.Rest.Host != cfg.Server {
		t.Fatalf("credentials for %q at %q", creds.User, creds.Rest.Host)
	}
	if creds.ServingNotAfter.IsZero() || creds.ClientNotAfter.IsZero() {
		t.Fatalf("certificates missing: %+v", creds)
	}
	// A second issue keeps the certificates (they still fit).
	before := readFiles(t, creds.ClientCertFile, creds.ServingCertFile)
	if err := join.IssueLocal(ca, cfg); err != nil {
		t.Fatal(err)
	}
	if after := readFiles(t, creds.ClientCertFile, creds.ServingCertFile); after != before {
		t.Fatal("certificates were reissued although they fit")
	}
	// The host lost an address since (another bridge went away): the
	// certificate still names all it has, so Join needs no server either.
	cfg.ServingIPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	if err := join.IssueLocal(ca, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := join.Join(context.Background(), cfg); err != nil {
		t.Fatalf("join after an address went away: %v", err)
	}
	if after := readFiles(t, creds.ClientCertFile, creds.ServingCertFile); after != before {
		t.Fatal("certificates were reissued although they still name every address")
	}
}

func readFiles(t *testing.T, names ...string) string {
	t.Helper()
	var all string
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		all += string(data)
	}
	return all
}
