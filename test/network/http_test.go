package network

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"berth/internal/testhosts"
)

// HTTP from the test process into the hosts: the clients' sockets are made
// inside a host's namespace (testhosts.Host.DialContext), so the test sees
// every answer and error itself.

// hostClient is an HTTP client whose connections start in h: one
// connection per request, so that every request is routed anew.
func hostClient(h *testhosts.Host, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       h.DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches url (with the Host header host, if not empty) and returns
// the status code and body.
func get(client *http.Client, url, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, string(body), err
	}
	return resp.StatusCode, string(body), nil
}

// getOK is get that wants a 200 answer.
func getOK(client *http.Client, url, host string) (string, error) {
	code, body, err := get(client, url, host)
	if err != nil {
		return body, err
	}
	if code != http.StatusOK {
		return body, fmt.Errorf("GET %s (Host %q): status %d: %q", url, host, code, body)
	}
	return body, nil
}

// demoAnswer is what berth/demo answers on /: "berth demo v1, pod NAME".
var demoAnswer = regexp.MustCompile(`^berth demo (v\d+), pod (\S+)$`)

// parseDemo returns the version and pod of a demo answer.
func parseDemo(body string) (version, pod string, ok bool) {
	m := demoAnswer.FindStringSubmatch(strings.TrimSpace(body))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// selfSigned makes a self-signed serving certificate for host and returns
// it in PEM with its key, and parsed.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host, Organization: []string{"berth network test"}},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), cert
}

// tlsHandshake connects from h to addr with SNI serverName and returns
// the certificates the server presented. With roots the chain must
// verify against them for serverName; without, anything is accepted.
func tlsHandshake(h *testhosts.Host, addr, serverName string, roots *x509.CertPool) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, &tls.Config{ServerName: serverName, RootCAs: roots, InsecureSkipVerify: roots == nil, NextProtos: []string{"http/1.1"}})
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := conn.Handshake(); err != nil {
		return nil, err
	}
	return conn.ConnectionState().PeerCertificates, nil
}

// tlsClient is an HTTPS client whose connections start in h and go to
// addr whatever the URL says, verifying against roots.
func tlsClient(h *testhosts.Host, addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return h.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
	}
}
