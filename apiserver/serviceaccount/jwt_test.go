package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"sub":"system:serviceaccount:default:default"}`)
	for _, key := range []crypto.Signer{ec, rs} {
		tok, err := sign(key, "kid-1", payload)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, hdr, err := parts(tok)
		if err != nil {
			t.Fatal(err)
		}
		wantAlg, _ := algorithm(key.Public())
		if hdr.Algorithm != wantAlg || hdr.KeyID != "kid-1" {
			t.Errorf("header %+v", hdr)
		}
		got, err := verify(key.Public(), tok)
		if err != nil || string(got) != string(payload) {
			t.Fatalf("verify %s: %q, %v", wantAlg, got, err)
		}
		if _, err := verify(other.Public(), tok); err == nil {
			t.Errorf("%s token verified with another key", wantAlg)
		}
	}

	tok, _ := sign(ec, "k", payload)
	h, p, s := split3(tok)
	forged := b64([]byte(`{"sub":"system:serviceaccount:kube-system:admin"}`))
	none := b64([]byte(`{"alg":"none"}`))
	// HS256 keyed with the public key: the classic algorithm confusion.
	der, _ := x509.MarshalPKIXPublicKey(ec.Public())
	mac := hmac.New(sha256.New, der)
	hsHeader := b64([]byte(`{"alg":"HS256"}`))
	mac.Write([]byte(hsHeader + "." + p))
	for name, bad := range map[string]string{
		"payload changed":     h + "." + forged + "." + s,
		"signature changed":   h + "." + p + "." + flip(s),
		"signature dropped":   h + "." + p + ".",
		"alg none":            none + "." + p + ".",
		"alg HS256":           hsHeader + "." + p + "." + b64(mac.Sum(nil)),
		"two parts":           h + "." + p,
		"four parts":          tok + ".x",
		"not base64":          h + ".!!!." + s,
		"empty":               "",
		"header not JSON":     b64([]byte("nope")) + "." + p + "." + s,
		"signature too short": h + "." + p + "." + b64([]byte("abc")),
	} {
		if _, err := verify(ec.Public(), bad); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func split3(tok string) (string, string, string) {
	p := strings.Split(tok, ".")
	return p[0], p[1], p[2]
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestKeyIDIsStable(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a, err := keyID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := keyID(&k.PublicKey)
	if a != b || len(a) != 43 { // 32 bytes, unpadded base64url
		t.Errorf("key IDs %q %q", a, b)
	}
	var hdr header
	tok, _ := sign(k, a, []byte("{}"))
	h, _, _ := split3(tok)
	raw, _ := unb64(h)
	if err := json.Unmarshal(raw, &hdr); err != nil || hdr.KeyID != a {
		t.Errorf("header %s", raw)
	}
}
