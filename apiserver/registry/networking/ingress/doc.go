// Package ingress describes networking.k8s.io/v1 Ingresses to the generic
// store: Kubernetes' validation of rules, paths, backends and TLS, the status
// subresource, and the columns `kubectl get ingress` prints.
package ingress
