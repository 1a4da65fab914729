// Package controllerrevision describes the apps/v1 ControllerRevision
// resource to the generic store: the snapshots of pod templates that
// DaemonSets and StatefulSets keep for rollouts and rollbacks. Data is
// required and immutable; revision is a non-negative number that the
// controllers may renumber; the table shows the owning controller.
package controllerrevision
