// Package deployment is berth's Deployment controller, the counterpart of
// Kubernetes' pkg/controller/deployment. A Deployment runs one ReplicaSet
// per pod template: named "<deployment>-<pod-template-hash>", with the
// hash (of the template and status.collisionCount, computed as Kubernetes
// computes it) added to its labels, selector and pods. The controller
// rolls out a new template with the RollingUpdate strategy (maxSurge
// rounded up, maxUnavailable rounded down, availability after
// minReadySeconds) or the Recreate strategy (every old pod gone before a
// new one starts); scales a rollout in progress proportionally across its
// ReplicaSets; scales but does not roll out a paused Deployment; keeps
// revisionHistoryLimit old ReplicaSets; records revisions in the
// deployment.kubernetes.io annotations that kubectl rollout history and
// undo read; and reports the status, the Progressing condition (with
// progressDeadlineSeconds) and the Available condition, with Kubernetes'
// reasons, messages and events.
package deployment
