// Package disruption is berth's disruption-controller, as in
// kube-controller-manager: it keeps the status of every
// PodDisruptionBudget — currentHealthy, desiredHealthy (from minAvailable
// or maxUnavailable, percentages taken of the scale of the pods'
// controllers), expectedPods, disruptionsAllowed, observedGeneration and
// the DisruptionAllowed condition — which the API server's eviction
// subresource consumes. It drops disruptedPods entries whose pod was not
// deleted within two minutes of its eviction, and resets DisruptionTarget
// conditions left on pods that were not deleted.
package disruption
