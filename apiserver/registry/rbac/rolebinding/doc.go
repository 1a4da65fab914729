// Package rolebinding describes namespaced rbac.authorization.k8s.io/v1
// RoleBindings to the generic store: roleRef and subject defaults and
// validation, the immutable roleRef, and `kubectl get rolebinding` columns.
package rolebinding
