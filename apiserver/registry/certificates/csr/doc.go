// Package csr describes certificates.k8s.io/v1 CertificateSigningRequests
// to the generic store, as Kubernetes serves them: the requesting user is
// recorded in spec (username, uid, groups, extra) from the request, spec is
// immutable, approval conditions change only through the approval
// subresource (`kubectl certificate approve|deny`) and the issued
// certificate only through status, where a signer puts it. Names are free
// (any path segment), as upstream; `kubectl get csr` shows NAME AGE
// SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION.
package csr
