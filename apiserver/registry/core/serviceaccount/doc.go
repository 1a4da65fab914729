// Package serviceaccount describes the core/v1 ServiceAccount resource to
// the generic store: references to secrets keep only their names, and the
// table is NAME SECRETS AGE. token.go serves the token subresource
// (TokenRequest), with signing and verification in apiserver/serviceaccount.
package serviceaccount
