// Package clusterrolebinding describes rbac.authorization.k8s.io/v1
// ClusterRoleBindings to the generic store: roleRef and subject defaults and
// validation (service accounts need a namespace), the immutable roleRef, and
// `kubectl get clusterrolebinding` columns.
package clusterrolebinding
