package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// servingTLS is the HTTPS endpoint's TLS configuration: the node's serving
// key pair (re-read when a renewal replaces the files) and the cluster CA
// that client certificates must be signed by.
func servingTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.get(nil); err != nil {
		return nil, err
	}
	return &tls.Config{GetCertificate: kp.get, ClientCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// keyPair serves a certificate from files, reloading it when the
// certificate file changes.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	modTime time.Time
	cert    *tls.Certificate
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := os.Stat(k.certFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, err
	}
	if k.cert != nil && st.ModTime().Equal(k.modTime) {
		return k.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil // a renewal in progress: keep the old one
		}
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	k.cert, k.modTime = &pair, st.ModTime()
	return k.cert, nil
}
