// Package schedulinggates is the SchedulingGates plugin: a pod with
// spec.schedulingGates is kept out of the active queue until its gates are
// all removed.
package schedulinggates
