// Package cronjob describes the batch/v1 CronJob resource to the generic
// store: Kubernetes' defaults (Allow concurrency, not suspended, keep 3
// successful and 1 failed job), validation of the schedule (a standard
// five-field cron spec or an @hourly-style macro, parsed as Kubernetes'
// cron library does, with TZ= prefixes refused in favour of spec.timeZone),
// of the time zone and of the job template, the create/update strategy, the
// status subresource and the `kubectl get cronjobs` table.
package cronjob
