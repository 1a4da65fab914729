package controllerrevision

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of apps/v1 controllerrevisions.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "apps",
		Version:    "v1",
		Resource:   "controllerrevisions",
		Kind:       "ControllerRevision",
		ListKind:   "ControllerRevisionList",
		Singular:   "controllerrevision",
		Namespaced: true,

		New:     func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },

		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*appsv1.ControllerRevision))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision))
		},

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Controller", Type: "string", Description: "Controller of the object"},
			{Name: "Revision", Type: "string", Description: appsv1.ControllerRevision{}.SwaggerDoc()["revision"]},
			registry.AgeColumn,
		},
		Cells: func(obj runtime.Object) []interface{} { return cells(obj.(*appsv1.ControllerRevision)) },
	}
}

// Validate checks a new ControllerRevision beyond its metadata.
func Validate(r *appsv1.ControllerRevision) field.ErrorList {
	var allErrs field.ErrorList
	if r.Data.Raw == nil && r.Data.Object == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(r.Revision, field.NewPath("revision"))...)
	return allErrs
}

// ValidateUpdate checks an updated ControllerRevision: data may not change.
// The revision number may (controllers renumber a revision they roll back
// to), as in Kubernetes.
func ValidateUpdate(r, old *appsv1.ControllerRevision) field.ErrorList {
	allErrs := Validate(r)
	if !bytes.Equal(canonicalData(r.Data), canonicalData(old.Data)) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("data"), r.Data, apimachineryvalidation.FieldImmutableErrorMsg))
	}
	return allErrs
}

// canonicalData returns the data as compact JSON, so that the same data
// sent with other spacing compares equal.
func canonicalData(d runtime.RawExtension) []byte {
	raw := d.Raw
	if raw == nil && d.Object != nil {
		b, err := json.Marshal(d.Object)
		if err != nil {
			return nil
		}
		raw = b
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

func cells(r *appsv1.ControllerRevision) []interface{} {
	controller := "<none>"
	if ref := metav1.GetControllerOf(r); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil {
			controller = strings.ToLower(gv.WithKind(ref.Kind).GroupKind().String()) + "/" + ref.Name
		} else {
			controller = ref.Name
		}
	}
	return []interface{}{r.Name, controller, r.Revision, registry.Age(r.CreationTimestamp)}
}
