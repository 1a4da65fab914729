package namespace

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// conditionTypes are the namespace conditions this controller maintains,
// in the order Kubernetes adds them.
func conditionTypes() []corev1.NamespaceConditionType {
	return []corev1.NamespaceConditionType{
		corev1.NamespaceDeletionDiscoveryFailure,
		corev1.NamespaceDeletionGVParsingFailure,
		corev1.NamespaceDeletionContentFailure,
		corev1.NamespaceContentRemaining,
		corev1.NamespaceFinalizersRemaining,
	}
}

// okCondition is the reason and message of a condition that reports no
// problem (status False).
func okCondition(t corev1.NamespaceConditionType) (reason, message string) {
	switch t {
	case corev1.NamespaceDeletionDiscoveryFailure:
		return "ResourcesDiscovered", "All resources successfully discovered"
	case corev1.NamespaceDeletionGVParsingFailure:
		return "ParsedGroupVersions", "All legacy kube types successfully parsed"
	case corev1.NamespaceDeletionContentFailure:
		return "ContentDeleted", "All content successfully deleted, may be waiting on finalization"
	case corev1.NamespaceContentRemaining:
		return "ContentRemoved", "All content successfully removed"
	case corev1.NamespaceFinalizersRemaining:
		return "ContentHasNoFinalizers", "All content-preserving finalizers finished"
	}
	return "", ""
}

// remaining counts what is left in a namespace.
type remaining struct {
	// byResource: instances left per resource.
	byResource map[schema.GroupVersionResource]int
	// byFinalizer: instances left holding each finalizer.
	byFinalizer map[string]int
}

func newRemaining() remaining {
	return remaining{byResource: map[schema.GroupVersionResource]int{}, byFinalizer: map[string]int{}}
}

func (r remaining) add(gvr schema.GroupVersionResource, c content) {
	if c.left == 0 {
		return
	}
	r.byResource[gvr] += c.left
	for f, n := range c.finalizers {
		if n > 0 {
			r.byFinalizer[f] += n
		}
	}
}

// conditions collects the problems of one deletion pass.
type conditions struct {
	now         time.Time
	found       []corev1.NamespaceCondition
	deleteFails []error
}

func (c *conditions) set(t corev1.NamespaceConditionType, reason, message string) {
	c.found = append(c.found, corev1.NamespaceCondition{
		Type: t, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(c.now), Reason: reason, Message: message,
	})
}

// discoveryFailed records a discovery error.
func (c *conditions) discoveryFailed(err error) {
	msg := err.Error()
	var failed *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &failed) {
		msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(failed.Groups), err)
	}
	c.set(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", msg)
}

// groupVersionFailed records unparsable group versions.
func (c *conditions) groupVersionFailed(err error) {
	c.set(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", err.Error())
}

// deleteFailed records a failure to delete the content of a resource.
func (c *conditions) deleteFailed(err error) { c.deleteFails = append(c.deleteFails, err) }

// contentLeft records what remains.
func (c *conditions) contentLeft(r remaining) {
	if len(r.byResource) > 0 {
		var parts []string
		for gvr, n := range r.byResource {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		sort.Strings(parts)
		c.set(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(r.byFinalizer) > 0 {
		var parts []string
		for f, n := range r.byFinalizer {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(parts)
		c.set(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", "))
	}
}

// apply writes the conditions into status: every maintained type is set,
// to its problem or else to its "ok" variant. A condition's transition
// time changes only with its status. It reports whether status changed.
func (c *conditions) apply(status *corev1.NamespaceStatus) bool {
	if len(c.deleteFails) > 0 && find(c.found, corev1.NamespaceDeletionContentFailure) == nil {
		msgs := make([]string, 0, len(c.deleteFails))
		for _, e := range c.deleteFails {
			msgs = append(msgs, e.Error())
		}
		sort.Strings(msgs)
		c.set(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(c.deleteFails), strings.Join(msgs, ", ")))
	}
	changed := false
	for _, t := range conditionTypes() {
		want := find(c.found, t)
		if want == nil {
			reason, message := okCondition(t)
			want = &corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(c.now), Reason: reason, Message: message}
		}
		have := find(status.Conditions, t)
		switch {
		case have == nil:
			status.Conditions = append(status.Conditions, *want)
			changed = true
		case have.Status != want.Status || have.Reason != want.Reason || have.Message != want.Message:
			if have.Status != want.Status {
				have.LastTransitionTime = want.LastTransitionTime
			}
			have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
			changed = true
		}
	}
	return changed
}

func find(cs []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}
