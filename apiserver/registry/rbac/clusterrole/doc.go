// Package clusterrole describes rbac.authorization.k8s.io/v1 ClusterRoles to
// the generic store, including the validation of aggregation rules.
package clusterrole
