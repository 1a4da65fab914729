// Package nodeunschedulable is the NodeUnschedulable plugin: pods do not
// go to nodes marked spec.unschedulable (cordoned) unless they tolerate
// the node.kubernetes.io/unschedulable:NoSchedule taint.
package nodeunschedulable
