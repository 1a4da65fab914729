// Package cronjob is berth's CronJob controller, as kube-controller-manager's
// (the v2 controller): at each time a CronJob's schedule names, it creates a
// Job from the job template, named "<cronjob>-<scheduled minutes since the
// epoch>" so that a time is never run twice, honouring timeZone,
// startingDeadlineSeconds, suspend and the concurrency policy (Allow,
// Forbid, Replace). It keeps .status.active, lastScheduleTime and
// lastSuccessfulTime, and deletes the oldest finished Jobs beyond the
// history limits. The schedule parser is its own (robfig/cron's grammar and
// next-time rules, as Kubernetes uses), and the clock is injectable, so
// tests can step through minutes without waiting.
package cronjob
