// Package probe runs the liveness, readiness and startup probes of the
// containers on a node, as the kubelet's prober does (pkg/kubelet/prober).
//
// The pod manager calls Start when a container starts (with or without
// probes: Ready and Started answer only for started containers), Stop
// when it exits, StopPod when the pod goes away, and reads Results: a
// readiness or startup result that changed, and every liveness or startup
// failure that reached its failureThreshold, after which the container is
// killed and, when it is started again, Start resets its probes.
//
// One goroutine per container and probe kind probes every periodSeconds
// (the first probe at once, or after a random part of the period when the
// manager has just started, so that an agent restart does not probe every
// container at the same moment); nothing runs before initialDelaySeconds
// have passed since the container started; liveness and readiness wait
// for the startup probe to succeed; readiness is false until the first
// success; a result changes only after successThreshold successes or
// failureThreshold failures in a row. Probes that cannot be run at all
// (a port name that the container does not declare, an exec that the
// runtime refuses) "error": their result is thrown away and an Unhealthy
// event says why. Events carry the kubelet's reasons and messages
// (Unhealthy, ProbeWarning).
package probe
