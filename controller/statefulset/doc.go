// Package statefulset is the StatefulSet controller, as Kubernetes'
// pkg/controller/statefulset: it gives each replica a stable identity
// (pod "<set>-<ordinal>", hostname, subdomain = serviceName, the
// statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index labels,
// PersistentVolumeClaims "<claim>-<set>-<ordinal>"), creates pods in ordinal
// order and deletes them in reverse (OrderedReady) or all at once
// (Parallel), rolls template changes out from the highest ordinal down to the
// partition (RollingUpdate) or leaves them to the user (OnDelete), records
// each template as a ControllerRevision, and reports the set's status.
//
// Claims are created only when the API serves persistentvolumeclaims; pods
// reference their claims either way, as in Kubernetes.
package statefulset
