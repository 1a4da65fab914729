// Package serviceaccount issues and checks service account tokens, as
// Kubernetes' pkg/serviceaccount does: JSON Web Tokens signed with a key the
// API server keeps under its data directory, carrying the standard claims
// (iss, sub, aud, exp, iat, nbf, jti) and the private "kubernetes.io" claim
// that names the service account and the object (pod, secret, node) a token
// is bound to.
//
// A Signer issues tokens for the serviceaccounts/token subresource
// (TokenRequest) and applies Kubernetes' expiry policy; an Authenticator
// verifies bearer tokens for the API server and turns them into the user
// system:serviceaccount:NAMESPACE:NAME, checking that the service account
// and the bound object still exist.
//
// Tokens are signed with ES256 (ECDSA P-256 and SHA-256): the key the
// server creates is a P-256 key, which is quick to make and gives short
// tokens. Kubernetes signs with RS256 when its key is RSA (kubeadm's
// default); a PEM RSA key placed at the key file is used with RS256 the
// same way.
package serviceaccount
