// Package rootcacert is berth's root CA certificate publisher, as
// Kubernetes' "root-ca-cert-publisher" controller: every namespace has a
// ConfigMap "kube-root-ca.crt" whose key "ca.crt" holds the cluster CA
// certificate, so that pods can verify the API server (service account
// token volumes mount it). The ConfigMap is created when a namespace
// appears, again when it is deleted, and put back when it is changed.
package rootcacert
