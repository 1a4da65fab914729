// Package rules holds what the four rbac.authorization.k8s.io/v1 resources
// share: the path-segment name rule, validation of policy rules, role
// references and subjects, the defaults of bindings, and the table cells of
// roles and bindings.
package rules
