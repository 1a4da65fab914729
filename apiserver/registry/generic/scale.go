package generic

import (
	"context"
	"encoding/json"
	"errors"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// scaleKind is the kind of the scale subresource's body.
var scaleKind = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// GetScale returns the scale subresource of an object.
func (s *Store) GetScale(ctx context.Context, namespace, name string) (*autoscalingv1.Scale, error) {
	obj, err := s.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return s.scaleOf(obj)
}

func (s *Store) scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	spec, status, selector := s.res.Scale.Get(obj)
	sc := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
	sc.GetObjectKind().SetGroupVersionKind(scaleKind)
	return sc, nil
}

// UpdateScale sets the desired replicas from a Scale.
func (s *Store) UpdateScale(ctx context.Context, namespace, name string, sc *autoscalingv1.Scale, opts *metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	if sc.Name != name {
		return nil, apierrors.NewBadRequest("the name of the object (" + sc.Name + ") does not match the name on the URL (" + name + ")")
	}
	if sc.Spec.Replicas < 0 {
		return nil, apierrors.NewInvalid(scaleKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0"),
		})
	}
	w := write{manager: opts.FieldManager, dryRun: len(opts.DryRun) > 0}
	out, _, err := s.update(ctx, namespace, name, w, func(cur runtime.Object) (runtime.Object, error) {
		m, _ := meta.Accessor(cur)
		if sc.ResourceVersion != "" && sc.ResourceVersion != m.GetResourceVersion() {
			return nil, apierrors.NewConflict(s.qualifiedResource(), name, errors.New(conflictMessage))
		}
		obj := cur.DeepCopyObject()
		s.res.Scale.Set(obj, sc.Spec.Replicas)
		return obj, nil
	})
	if err != nil {
		return nil, err
	}
	return s.scaleOf(out)
}

// PatchScale patches the Scale of an object.
func (s *Store) PatchScale(ctx context.Context, namespace, name string, pt types.PatchType, data []byte, opts *metav1.PatchOptions) (*autoscalingv1.Scale, error) {
	if pt == types.ApplyPatchType {
		return nil, apierrors.NewBadRequest("server-side apply is not supported for the scale subresource")
	}
	cur, err := s.GetScale(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	patched, err := patchJSON(pt, doc, data, &autoscalingv1.Scale{})
	if err != nil {
		return nil, err
	}
	sc := &autoscalingv1.Scale{}
	if err := json.Unmarshal(patched, sc); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return s.UpdateScale(ctx, namespace, name, sc, &metav1.UpdateOptions{DryRun: opts.DryRun, FieldManager: opts.FieldManager})
}

// ScaleKind is the group, version and kind of the scale subresource.
func ScaleKind() schema.GroupVersionKind { return scaleKind }
