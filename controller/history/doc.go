// Package history keeps the ControllerRevisions of StatefulSets and
// DaemonSets, as Kubernetes' pkg/controller/history: revision names
// "<owner>-<hash>", the hashes Kubernetes computes (so names match a
// Kubernetes cluster's), ordering, listing, creation with hash-collision
// handling, rollback by renumbering, and trimming to revisionHistoryLimit.
//
// It also holds the ownership rules both controllers apply to their pods and
// revisions (ControllerRefManager in Kubernetes): a controller adopts the
// orphans its selector matches and releases what it owns but no longer
// matches, with the same strategic merge patches Kubernetes sends.
package history
