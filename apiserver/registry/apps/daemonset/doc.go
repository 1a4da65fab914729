// Package daemonset describes the apps/v1 DaemonSet resource to the generic
// store: Kubernetes' defaults (RollingUpdate with maxUnavailable 1 and
// maxSurge 0, ten revisions), validation, the create/update strategy (status
// reset, generation bumps, the template generation kept in the
// deprecated.daemonset.template.generation annotation, an immutable
// selector), the status subresource and the `kubectl get daemonsets` table.
package daemonset
