package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"berth/pki"
)

// LoadOrCreateKey returns the token signing key kept at path, creating an
// ECDSA P-256 key there (mode 0600) when the file does not exist. An
// existing file may hold an EC P-256 or an RSA key (PEM: EC, PKCS#8 or
// PKCS#1). Servers that start at once on one data directory end up with the
// same key: the file is created atomically and never replaced.
func LoadOrCreateKey(path string) (crypto.Signer, error) {
	key, err := loadKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	data, err := pki.EncodeKey(fresh)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sa-key-*")
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("service account key %s: %w", path, werr)
	}
	// A hard link fails if path exists: whoever links first wins, and the
	// others read the winner's key.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("service account key %s: %w", path, err)
	}
	return loadKey(path)
}

func loadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	key, err := pki.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("service account key %s: %w", path, err)
	}
	if _, err := algorithm(key.Public()); err != nil {
		return nil, fmt.Errorf("service account key %s: %w", path, err)
	}
	return key, nil
}

// Signature algorithms (RFC 7518).
const (
	algES256 = "ES256"
	algRS256 = "RS256"
)

// algorithm returns the JWS algorithm used with a public key.
func algorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA curve %s is not supported (want P-256)", k.Curve.Params().Name)
		}
		return algES256, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key of %d bits is too short (want at least 2048)", k.N.BitLen())
		}
		return algRS256, nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// keyID names a public key in the tokens' "kid" header as Kubernetes does:
// the unpadded base64url SHA-256 of its PKIX DER form.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
