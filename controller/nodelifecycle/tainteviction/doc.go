// Package tainteviction is berth's taint-eviction-controller, as in
// kube-controller-manager: it deletes the pods of nodes with NoExecute
// taints they do not tolerate at once, and those that tolerate them for
// tolerationSeconds once that time has passed since the taint was added
// (its timeAdded), first giving them the DisruptionTarget condition. With
// the node lifecycle controller's unreachable/not-ready taints and the
// 300s tolerations the API server gives every pod, this is what moves
// pods off a dead node.
package tainteviction
