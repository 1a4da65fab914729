package certificates

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// parseRequest decodes a PEM PKCS#10 request.
func parseRequest(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// The usages node certificates must have exactly: with or without key
// encipherment (RSA keys need it, ECDSA keys do not).
var (
	clientUsages      = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth)
	clientUsagesNoRSA = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth)

	servingUsages      = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth)
	servingUsagesNoRSA = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth)
)

// ValidateKubeletClient checks a request for a node client certificate as
// Kubernetes does: O=system:nodes, CN=system:node:..., no subject
// alternative names, client usages.
func ValidateKubeletClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if !slices.Equal(req.Subject.Organization, []string{groupNodes}) {
		return errors.New("subject organization is not system:nodes")
	}
	switch {
	case len(req.DNSNames) > 0:
		return errors.New("DNS subjectAltNames are not allowed")
	case len(req.EmailAddresses) > 0:
		return errors.New("Email subjectAltNames are not allowed")
	case len(req.IPAddresses) > 0:
		return errors.New("IP subjectAltNames are not allowed")
	case len(req.URIs) > 0:
		return errors.New("URI subjectAltNames are not allowed")
	}
	if !strings.HasPrefix(req.Subject.CommonName, nodeUserPrefix) {
		return errors.New("subject common name does not begin with system:node:")
	}
	if u := sets.New(usages...); !u.Equal(clientUsages) && !u.Equal(clientUsagesNoRSA) {
		return fmt.Errorf("usages did not match %v", sets.List(clientUsages))
	}
	return nil
}

// ValidateKubeletServing checks a request for a node serving certificate
// as Kubernetes does: O=system:nodes, CN=system:node:..., at least one DNS
// or IP name, no e-mail or URI names, server usages.
func ValidateKubeletServing(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if !slices.Equal(req.Subject.Organization, []string{groupNodes}) {
		return errors.New("subject organization is not system:nodes")
	}
	switch {
	case len(req.DNSNames) == 0 && len(req.IPAddresses) == 0:
		return errors.New("DNS or IP subjectAltName is required")
	case len(req.EmailAddresses) > 0:
		return errors.New("Email subjectAltNames are not allowed")
	case len(req.URIs) > 0:
		return errors.New("URI subjectAltNames are not allowed")
	}
	if u := sets.New(usages...); !u.Equal(servingUsages) && !u.Equal(servingUsagesNoRSA) {
		return fmt.Errorf("usages did not match %v", sets.List(servingUsages))
	}
	if !strings.HasPrefix(req.Subject.CommonName, nodeUserPrefix) {
		return errors.New("subject common name does not begin with system:node:")
	}
	return nil
}

// validateAPIServerClient checks a request for a client certificate of the
// API server: client auth, optionally digital signature and key
// encipherment, and not for the system:masters group (Kubernetes'
// CertificateSubjectRestriction admission refuses those).
func validateAPIServerClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if slices.Contains(req.Subject.Organization, groupMasters) {
		return fmt.Errorf("use of %s signer with %s group is not allowed", certificatesv1.KubeAPIServerClientSignerName, groupMasters)
	}
	client := false
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		case certificatesv1.UsageClientAuth:
			client = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !client {
		return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
	}
	return nil
}

// validateFor checks a request against the rules of its signer; known is
// false for signers berth does not sign for.
func validateFor(signer string, req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) (known bool, err error) {
	switch signer {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		return true, ValidateKubeletClient(req, usages)
	case certificatesv1.KubeletServingSignerName:
		return true, ValidateKubeletServing(req, usages)
	case certificatesv1.KubeAPIServerClientSignerName:
		return true, validateAPIServerClient(req, usages)
	}
	return false, nil
}
