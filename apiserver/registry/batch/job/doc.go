// Package job describes the batch/v1 Job resource to the generic store:
// Kubernetes' defaults (completions and parallelism 1, backoffLimit 6,
// NonIndexed completion, podReplacementPolicy, ...), the selector and pod
// labels generated at creation from the job's uid, validation of the spec
// (pod failure and success policies, indexed jobs, an immutable template
// outside suspended jobs) and of status transitions, the status subresource,
// the status.successful field selector and the `kubectl get jobs` table.
//
// Its spec rules are exported for CronJob job templates.
package job
