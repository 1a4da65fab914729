// Package tainttoleration is the TaintToleration plugin: a pod does not go
// to a node with a NoSchedule or NoExecute taint it does not tolerate, and
// prefers nodes with fewer PreferNoSchedule taints it does not tolerate.
package tainttoleration
