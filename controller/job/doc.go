// Package job is berth's Job controller, as kube-controller-manager's: it
// runs a Job's pods to completion. It creates pods up to the Job's
// parallelism (with a completion index each for Indexed Jobs), re-creates
// failed ones after an exponential back-off, and finishes the Job when
// enough pods succeed (SuccessCriteriaMet, then Complete) or when it fails
// (backoffLimit, activeDeadlineSeconds, a podFailurePolicy FailJob rule:
// FailureTarget, then Failed). Pods carry the batch.kubernetes.io/job-tracking
// finalizer until the controller has counted them in the Job's status
// (through .status.uncountedTerminatedPods), so every finished pod is counted
// exactly once even if it is deleted meanwhile.
package job
