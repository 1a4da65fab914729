package statefulset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"berth/controller/history"
)

// templatePatch is what a revision records: a strategic merge patch that
// replaces spec.template with set's. It is built exactly as Kubernetes
// builds it (the set's JSON, re-marshalled with sorted keys), so that
// revision hashes and names match Kubernetes'.
func templatePatch(set *appsv1.StatefulSet) ([]byte, error) {
	data, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	var raw map[string]interface{}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	spec, _ := raw["spec"].(map[string]interface{})
	template, _ := spec["template"].(map[string]interface{})
	if template == nil {
		template = map[string]interface{}{}
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
}

// newRevision returns the revision (numbered n) recording set's template,
// with set's template labels and annotations.
func newRevision(set *appsv1.StatefulSet, n int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	patch, err := templatePatch(set)
	if err != nil {
		return nil, err
	}
	rev := history.New(set, setKind, set.Spec.Template.Labels, patch, n, collisionCount)
	if len(set.Annotations) > 0 {
		rev.Annotations = make(map[string]string, len(set.Annotations))
		for k, v := range set.Annotations {
			rev.Annotations[k] = v
		}
	}
	return rev, nil
}

// applyRevision returns set with the template recorded in rev.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	original, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	patched, err := strategicpatch.StrategicMergePatch(original, rev.Data.Raw, &appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("apply revision %s to statefulset %s/%s: %w", rev.Name, set.Namespace, set.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("decode revision %s of statefulset %s/%s: %w", rev.Name, set.Namespace, set.Name, err)
	}
	return out, nil
}

// revisions returns the current and update revisions of set, creating the
// update revision (or renumbering an equal older one, a rollback) if set's
// template is new, and the collision count to record. revs must be sorted.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	update, err = newRevision(set, history.Next(revs), &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	equal := history.FindEqual(revs, update)
	switch {
	case len(equal) > 0 && history.Equal(revs[len(revs)-1], equal[len(equal)-1]):
		// The newest revision already records this template.
		update = revs[len(revs)-1]
	case len(equal) > 0:
		// An older revision records it: a rollback makes it the newest.
		update, err = c.history.Renumber(ctx, equal[len(equal)-1], update.Revision)
	default:
		update, err = c.history.Create(ctx, set, update, &collisionCount)
	}
	if err != nil {
		return nil, nil, collisionCount, err
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}
