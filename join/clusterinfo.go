package join

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The discovery ConfigMap, as kubeadm publishes it.
const (
	// ClusterInfoNamespace and ClusterInfoName name the ConfigMap.
	ClusterInfoNamespace = "kube-public"
	ClusterInfoName      = "cluster-info"
	// ClusterInfoKey is the data key holding the kubeconfig.
	ClusterInfoKey = "kubeconfig"
)

// ErrCAMismatch is returned when the server's CA is not the one the join
// token pins: the server is not the cluster that made the token (or
// something stands between them).
var ErrCAMismatch = errors.New("the server's CA does not match the token")

// ClusterInfo returns the ConfigMap kube-public/cluster-info that the API
// server publishes to anyone: a kubeconfig with the server's URL and CA
// certificate and no credentials (the shape kubeadm gives it). A joining
// node reads it before it trusts the server, and checks the CA against the
// hash in its join token.
func ClusterInfo(serverURL string, caPEM []byte) *corev1.ConfigMap {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: serverURL, CertificateAuthorityData: caPEM}
	// Serialising a config of plain values cannot fail.
	data, _ := clientcmd.Write(*cfg)
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterInfoName, Namespace: ClusterInfoNamespace},
		Data:       map[string]string{ClusterInfoKey: string(data)},
	}
}

// discoverCA reads cluster-info from server without trusting it (nothing
// secret is sent), and returns the PEM of the CA certificate whose public
// key hash is pin. Only that certificate is trusted from then on, so that
// a forged cluster-info cannot slip in a CA of its own.
func discoverCA(ctx context.Context, server, pin string) ([]byte, error) {
	cm, err := fetchClusterInfo(ctx, server)
	if err != nil {
		return nil, err
	}
	kc, err := clientcmd.Load([]byte(cm.Data[ClusterInfoKey]))
	if err != nil {
		return nil, fmt.Errorf("the server's cluster-info holds no valid kubeconfig: %w", err)
	}
	var bundle []byte
	for _, c := range kc.Clusters {
		bundle = append(bundle, c.CertificateAuthorityData...)
	}
	if len(bundle) == 0 {
		return nil, errors.New("the server's cluster-info holds no CA certificate")
	}
	return pinnedCert(bundle, pin)
}

// pinnedCert returns, in PEM form, the certificate of bundle whose
// SubjectPublicKeyInfo hashes to pin.
func pinnedCert(bundle []byte, pin string) ([]byte, error) {
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, ErrCAMismatch
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		if CAHash(cert) == pin {
			return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), nil
		}
	}
}

// fetchClusterInfo GETs cluster-info anonymously, without verifying the
// server's certificate (it is verified afterwards through the pin).
func fetchClusterInfo(ctx context.Context, server string) (*corev1.ConfigMap, error) {
	url := strings.TrimSuffix(server, "/") + "/api/v1/namespaces/" + ClusterInfoNamespace + "/configmaps/" + ClusterInfoName
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", server, err)
	}
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{
		// The server is not known yet: its CA comes in this answer and
		// is checked against the token's pin before it is used.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec
		Proxy:           http.ProxyFromEnvironment,
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read cluster-info from %s: %w", server, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("the server at %s publishes no %s/%s: is it a berth server?", server, ClusterInfoNamespace, ClusterInfoName)
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("the server at %s does not let joining nodes read %s/%s (HTTP %d)", server, ClusterInfoNamespace, ClusterInfoName, resp.StatusCode)
	default:
		return nil, fmt.Errorf("read cluster-info from %s: HTTP %d: %s", server, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(body, &cm); err != nil {
		return nil, fmt.Errorf("read cluster-info from %s: %w", server, err)
	}
	return &cm, nil
}
