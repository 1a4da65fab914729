package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// header is a token's JOSE header.
type header struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid,omitempty"`
}

// sign returns the compact JWS serialisation of payload signed by key.
func sign(key crypto.Signer, kid string, payload []byte) (string, error) {
	alg, err := algorithm(key.Public())
	if err != nil {
		return "", err
	}
	h, err := json.Marshal(header{Algorithm: alg, KeyID: kid})
	if err != nil {
		return "", err
	}
	signingInput := b64(h) + "." + b64(payload)
	digest := sha256.Sum256([]byte(signingInput))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", err
		}
		// JWS wants r and s as fixed-size big-endian integers (RFC 7518 3.4).
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("unsupported signing key %T", key)
	}
	return signingInput + "." + b64(sig), nil
}

// errMalformed is returned for strings that are not compact JWS at all.
var errMalformed = errors.New("not a JSON web token")

// parts splits a compact JWS and decodes its payload without checking the
// signature.
func parts(token string) (signingInput string, payload, sig []byte, hdr header, err error) {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || first == last || strings.Count(token, ".") != 2 {
		return "", nil, nil, hdr, errMalformed
	}
	h, err := unb64(token[:first])
	if err != nil {
		return "", nil, nil, hdr, errMalformed
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		return "", nil, nil, hdr, errMalformed
	}
	if payload, err = unb64(token[first+1 : last]); err != nil {
		return "", nil, nil, hdr, errMalformed
	}
	if sig, err = unb64(token[last+1:]); err != nil {
		return "", nil, nil, hdr, errMalformed
	}
	return token[:last], payload, sig, hdr, nil
}

// verify checks a token's signature with pub and returns its payload.
func verify(pub crypto.PublicKey, token string) ([]byte, error) {
	signingInput, payload, sig, hdr, err := parts(token)
	if err != nil {
		return nil, err
	}
	alg, err := algorithm(pub)
	if err != nil {
		return nil, err
	}
	// The algorithm is the key's, whatever the header claims ("none", or
	// HS256 keyed with the public key, are refused).
	if hdr.Algorithm != alg {
		return nil, fmt.Errorf("token signed with %q, want %q", hdr.Algorithm, alg)
	}
	digest := sha256.Sum256([]byte(signingInput))
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return nil, errors.New("invalid token signature")
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return nil, errors.New("invalid token signature")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			return nil, errors.New("invalid token signature")
		}
	}
	return payload, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
