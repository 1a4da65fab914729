// Package defaults sets the default values Kubernetes' API server fills in on
// core/v1 pod specs and pod templates (pkg/apis/core/v1/defaults.go and the
// generated defaulters of Kubernetes 1.33).
//
// It exists on its own because every workload resource embeds a pod template
// (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, PodTemplate,
// ReplicationController) and must default it exactly as pods are defaulted,
// while a handful of defaults apply only to real pods (see Pod).
//
// Every function here is idempotent: defaulting an already defaulted object
// changes nothing, because defaults run on objects read from storage too.
package defaults
