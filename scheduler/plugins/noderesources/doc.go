// Package noderesources is the NodeResourcesFit plugin: a pod goes only to
// nodes whose allocatable resources (cpu, memory, ephemeral storage,
// extended resources, number of pods) cover what the pods there request
// plus its own requests; nodes are scored LeastAllocated (spread, the
// default) or MostAllocated (bin packing) on cpu and memory.
package noderesources
