// Package appsrules holds the validation and table rules that the apps/v1
// workload resources (deployments, replicasets, statefulsets, daemonsets)
// share in Kubernetes: strict non-empty label selectors, pod templates whose
// labels match the selector and whose pods restart Always, int-or-percent
// rolling update parameters, collision counts that never go down, and the
// container/image/selector cells of `kubectl get -o wide` (which batch/v1
// jobs and cronjobs show too). Keeping them in one place keeps messages and
// field paths identical across resources.
package appsrules
