package certificates

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"berth/pki"
)

// Signing times, as kube-controller-manager's signer: certificates start 5
// minutes in the past (clock skew); a long-lived one ends that much
// earlier, a short-lived one (under 8 hours) does not.
const (
	backdate  = 5 * time.Minute
	shortLife = 8 * time.Hour
	// minLife is the shortest certificate issued, whatever is asked.
	minLife = 10 * time.Minute
)

var keyUsages = map[certificatesv1.KeyUsage]x509.KeyUsage{
	certificatesv1.UsageSigning:           x509.KeyUsageDigitalSignature,
	certificatesv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
	certificatesv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
	certificatesv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
	certificatesv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
	certificatesv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
	certificatesv1.UsageCertSign:          x509.KeyUsageCertSign,
	certificatesv1.UsageCRLSign:           x509.KeyUsageCRLSign,
	certificatesv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
	certificatesv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
}

var extKeyUsages = map[certificatesv1.KeyUsage]x509.ExtKeyUsage{
	certificatesv1.UsageAny:             x509.ExtKeyUsageAny,
	certificatesv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
	certificatesv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
	certificatesv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
	certificatesv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
	certificatesv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
	certificatesv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
	certificatesv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
	certificatesv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	certificatesv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// lifetime is how long a certificate lasts: maxLife unless the request
// asks for less (but at least minLife).
func lifetime(expirationSeconds *int32, maxLife time.Duration) time.Duration {
	if expirationSeconds == nil {
		return maxLife
	}
	d := time.Duration(*expirationSeconds) * time.Second
	switch {
	case d > maxLife:
		return maxLife
	case d < minLife:
		return minLife
	}
	return d
}

// sign issues a certificate for req with ca: the request's subject and
// alternative names, the given usages, not a CA, valid for life from now
// (backdated), and never past the CA's own end. It returns PEM.
func sign(ca *pki.CA, req *x509.CertificateRequest, usages []certificatesv1.KeyUsage, life time.Duration, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		EmailAddresses:        req.EmailAddresses,
		URIs:                  req.URIs,
		BasicConstraintsValid: true,
		IsCA:                  false,
		NotBefore:             now.Add(-backdate),
	}
	for _, u := range usages {
		if k, ok := keyUsages[u]; ok {
			tmpl.KeyUsage |= k
		} else if e, ok := extKeyUsages[u]; ok {
			if !containsEKU(tmpl.ExtKeyUsage, e) {
				tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, e)
			}
		} else {
			return nil, fmt.Errorf("unrecognized usage value: %q", u)
		}
	}
	if life < shortLife {
		tmpl.NotAfter = now.Add(life)
	} else {
		tmpl.NotAfter = now.Add(life - backdate)
	}
	if !tmpl.NotAfter.Before(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("refusing to sign a certificate with an expired CA: NotAfter=%v", ca.Cert.NotAfter)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, req.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func containsEKU(list []x509.ExtKeyUsage, e x509.ExtKeyUsage) bool {
	for _, v := range list {
		if v == e {
			return true
		}
	}
	return false
}
