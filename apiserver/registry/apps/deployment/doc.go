// Package deployment describes the apps/v1 Deployment resource to the
// generic store: Kubernetes' defaults (one replica, RollingUpdate 25%/25%,
// ten revisions of history, a 600s progress deadline), validation, the
// create/update strategy (status reset, generation bumps on spec or
// annotation changes, an immutable selector), the status and scale
// subresources and the `kubectl get deployments` table.
package deployment
