// Package cache is the scheduler's cache of nodes and the pods on them,
// including pods assumed on a node before their binding returns, so that
// each scheduling cycle sees the choices of the previous ones. Cycles read
// a Snapshot updated incrementally (only nodes changed since the previous
// cycle are copied), with the nodes ordered zone by zone.
package cache
