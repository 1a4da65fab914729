// Package event describes core/v1 Events to the generic store: the checks
// Kubernetes applies to events written through the core/v1 API (namespace
// agreement, and the reporting fields of new-style events), PUT-creates,
// a time to live (one hour by default, like kube-apiserver's --event-ttl),
// the field selectors `kubectl get events --field-selector` uses, and the
// table of `kubectl get events`.
package event
