// Package ingressclass describes cluster-scoped networking.k8s.io/v1
// IngressClasses to the generic store: the parameters scope default, the
// controller and parameters validation, and `kubectl get ingressclass`
// columns.
package ingressclass
