// Package imagetest stands in for the API server's registry endpoint in
// tests: a registry (package registry) behind HTTPS on 127.0.0.1, signed
// by a test CA, letting reads through anonymously and writes only with a
// client certificate of the CA, as the API server does; and a kubeconfig
// with such a certificate, as `berth up` writes.
package imagetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"berth/pki"
	"berth/registry"
)

// Server is a registry served as the API server serves it.
type Server struct {
	Registry *registry.Registry
	// URL is "https://127.0.0.1:PORT".
	URL string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate (for containerd's hosts.toml).
	CAFile string
	// Kubeconfig is a kubeconfig file with an admin client certificate;
	// Rest is its client configuration.
	Kubeconfig string
	Rest       *rest.Config
	// Anonymous is a client configuration without credentials (it
	// trusts the CA).
	Anonymous *rest.Config
}

// Start runs a registry for the test, stopped at its end.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	reg, err := registry.New(registry.Config{Dir: filepath.Join(dir, "registry")})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "imagetest-ca")
	if err != nil {
		t.Fatal(err)
	}
	serverCert := issue(t, ca, pki.Leaf{CommonName: "kube-apiserver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authenticated := r.TLS != nil && len(r.TLS.VerifiedChains) > 0
		if !authenticated && !registry.IsRead(r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
			return
		}
		reg.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.pair}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	admin := issue(t, ca, pki.Leaf{CommonName: "admin", Organization: []string{"system:masters"}})
	kc, err := pki.Kubeconfig(srv.URL, ca.PEM, admin.certPEM, admin.keyPEM, "admin")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Registry: reg, URL: srv.URL, CAFile: filepath.Join(dir, "ca.crt"), Kubeconfig: filepath.Join(dir, "admin.kubeconfig")}
	if err := os.WriteFile(s.Kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	if s.Rest, err = clientcmd.BuildConfigFromFlags("", s.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	s.Anonymous = &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca.PEM}}
	return s
}

type keyPair struct {
	certPEM, keyPEM []byte
	pair            tls.Certificate
}

func issue(t testing.TB, ca *pki.CA, l pki.Leaf) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.Issue(l, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{certPEM: certPEM, keyPEM: keyPEM, pair: pair}
}
