// Package role describes namespaced rbac.authorization.k8s.io/v1 Roles to
// the generic store.
package role
