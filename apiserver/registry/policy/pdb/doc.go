// Package pdb describes policy/v1 PodDisruptionBudgets to the generic store:
// Kubernetes' validation (minAvailable xor maxUnavailable, selectors, the
// unhealthy pod eviction policy), the status subresource, and the
// `kubectl get pdb` columns.
package pdb
