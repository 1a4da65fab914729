// Package balancedallocation is the NodeResourcesBalancedAllocation
// plugin: it prefers nodes whose cpu and memory would be used in the same
// proportion once the pod is placed.
package balancedallocation
