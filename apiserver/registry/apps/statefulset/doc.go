// Package statefulset describes the apps/v1 StatefulSet resource to the
// generic store: Kubernetes' defaults (OrderedReady pods, RollingUpdate with
// partition 0, Retain for claims, one replica, ten revisions), validation
// (names are DNS labels, only replicas, ordinals, template, updateStrategy,
// persistentVolumeClaimRetentionPolicy and minReadySeconds may change), the
// create/update strategy, the status and scale subresources and the
// `kubectl get statefulsets` table.
package statefulset
