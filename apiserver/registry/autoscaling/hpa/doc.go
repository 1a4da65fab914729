// Package hpa describes autoscaling/v2 HorizontalPodAutoscalers to the
// generic store: the v2 defaults for minReplicas, metrics and scaling
// behavior, Kubernetes' validation of replicas bounds, metrics and policies,
// the status subresource, and the `kubectl get hpa` columns with their
// TARGETS text.
package hpa
