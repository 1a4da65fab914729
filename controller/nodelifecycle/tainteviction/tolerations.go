package tainteviction

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// noExecuteTaints returns the NoExecute taints of a node.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// decision is what to do with a pod on a node with NoExecute taints.
type decision struct {
	// evict is false when the pod tolerates every taint forever.
	evict bool
	// at is when to delete it (now or earlier: at once).
	at time.Time
	// start is when its toleration time began counting.
	start time.Time
}

// decide matches a pod's tolerations against a node's NoExecute taints.
// A taint no toleration matches means deletion now; otherwise the pod is
// deleted when the shortest tolerationSeconds of the tolerations used has
// passed since the taint was added: since (when the controller first
// scheduled this pod's deletion, or now), or earlier when the taint's
// timeAdded says so — after a restart of the controller, say. timeAdded
// is stored to the second, so the taint was added within the second
// after it: counting from its end never deletes a pod early.
func decide(taints []corev1.Taint, tolerations []corev1.Toleration, since, now time.Time) decision {
	var d decision
	for i := range taints {
		taint := &taints[i]
		var used *corev1.Toleration
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(taint) {
				used = &tolerations[j]
				break
			}
		}
		if used == nil {
			return decision{evict: true, at: now, start: now}
		}
		if used.TolerationSeconds == nil {
			continue // tolerated forever
		}
		start := since
		if taint.TimeAdded != nil {
			if added := taint.TimeAdded.Time.Add(time.Second); added.Before(start) {
				start = added
			}
		}
		at := start
		if *used.TolerationSeconds > 0 {
			at = start.Add(time.Duration(*used.TolerationSeconds) * time.Second)
		} else {
			at = now
		}
		if !d.evict || at.Before(d.at) {
			d.at = at
		}
		if !d.evict || start.Before(d.start) {
			d.start = start
		}
		d.evict = true
	}
	return d
}
