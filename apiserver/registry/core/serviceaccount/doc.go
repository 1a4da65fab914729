// Package serviceaccount describes the core/v1 ServiceAccount resource to
// the generic store: references to secrets keep only their names, and the
// table is NAME SECRETS AGE. Service account tokens (the token subresource)
// are served elsewhere.
package serviceaccount
