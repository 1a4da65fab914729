package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate/csr"

	"berth/pki"
)

// certRequest is what a node asks a signer for.
type certRequest struct {
	signer  string
	usages  []certificatesv1.KeyUsage
	subject pkix.Name
	dns     []string
	ips     []net.IP
}

// clientRequest is a node's client certificate request, as a kubelet makes
// it with an ECDSA key.
func clientRequest(user string) certRequest {
	return certRequest{
		signer:  certificatesv1.KubeAPIServerClientKubeletSignerName,
		usages:  []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		subject: pkix.Name{CommonName: user, Organization: []string{GroupNodes}},
	}
}

// servingRequest is a node's serving certificate request.
func servingRequest(user string, dns []string, ips []net.IP) certRequest {
	return certRequest{
		signer:  certificatesv1.KubeletServingSignerName,
		usages:  []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		subject: pkix.Name{CommonName: user, Organization: []string{GroupNodes}},
		dns:     dns,
		ips:     ips,
	}
}

// request makes a new key, asks for a certificate for it through a
// CertificateSigningRequest and waits until it is issued. withToken says
// the client authenticates with the join token (a 401 then means the
// token is refused).
func (j *joiner) request(ctx context.Context, client kubernetes.Interface, server string, r certRequest, withToken bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: r.subject, DNSNames: r.dns, IPAddresses: r.ips}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	obj := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: r.signer,
			Usages:     r.usages,
		},
	}
	created, err := client.CertificatesV1().CertificateSigningRequests().Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return nil, nil, apiError(err, server, withToken)
	}
	j.cfg.Logger.Info("waiting for the certificate request to be approved", "csr", created.Name, "signer", r.signer)
	wctx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
	defer cancel()
	certPEM, err = csr.WaitForCertificate(wctx, client, created.Name, created.UID)
	if err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return nil, nil, fmt.Errorf("certificate request %s was not approved and issued within %s: approve it with `kubectl certificate approve %s`", created.Name, j.cfg.Timeout, created.Name)
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("certificate request %s: %w", created.Name, err)
	}
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request %s: the issued certificate: %w", created.Name, err)
	}
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, spki(&key.PublicKey)) {
		return nil, nil, fmt.Errorf("certificate request %s: the issued certificate is not for the requested key", created.Name)
	}
	keyPEM, err = pki.EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// apiError turns an error of the API into one a user can act on.
func apiError(err error, server string, withToken bool) error {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsUnauthorized(err) && withToken:
		return ErrTokenRefused
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the server refused the node's credentials (join again with a token): %w", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("the server does not let this node request certificates: %w", err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the server at %s serves no certificatesigningrequests: %w", server, err)
	case errors.As(err, &status):
		return fmt.Errorf("create certificate request: %w", err)
	}
	return fmt.Errorf("cannot reach the server at %s: %w", server, err)
}

// loadPair reads a certificate and its key, checking that they belong
// together.
func loadPair(certFile, keyFile string) (*x509.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	return x509.ParseCertificate(pair.Certificate[0])
}

func spki(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	return der
}
