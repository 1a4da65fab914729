// Package ttlafterfinished is berth's TTL-after-finished controller, as
// kube-controller-manager's: it deletes a finished Job (Complete or Failed)
// ttlSecondsAfterFinished seconds after it finished, so that finished Jobs
// do not pile up. Berth deletes with background propagation (the garbage
// collector then removes the Job's pods).
package ttlafterfinished
