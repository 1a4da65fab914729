package ingressclass

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// maxControllerLen is the longest spec.controller Kubernetes accepts.
const maxControllerLen = 250

// Resource returns the description of networking.k8s.io/v1 ingressclasses.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:    "networking.k8s.io",
		Version:  "v1",
		Resource: "ingressclasses",
		Kind:     "IngressClass",
		ListKind: "IngressClassList",
		Singular: "ingressclass",

		New:     func() runtime.Object { return &networkingv1.IngressClass{} },
		NewList: func() runtime.Object { return &networkingv1.IngressClassList{} },

		Default:          setDefaults,
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Controller", Type: "string", Description: "Controller that is responsible for handling this class"},
			{Name: "Parameters", Type: "string", Description: "A reference to a resource with additional parameters"},
			registry.AgeColumn,
		},
		Cells: cells,
	}
}

// setDefaults scopes parameters to the cluster when no scope is given.
func setDefaults(obj runtime.Object) {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return
	}
	if ic.Spec.Parameters != nil && ic.Spec.Parameters.Scope == nil {
		scope := networkingv1.IngressClassParametersReferenceScopeCluster
		ic.Spec.Parameters.Scope = &scope
	}
}

func prepareForCreate(_ context.Context, obj runtime.Object) {
	if ic, ok := obj.(*networkingv1.IngressClass); ok {
		ic.Generation = 1
	}
}

func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ic, ok1 := obj.(*networkingv1.IngressClass)
	oldIC, ok2 := old.(*networkingv1.IngressClass)
	if ok1 && ok2 && !apiequality.Semantic.DeepEqual(ic.Spec, oldIC.Spec) {
		ic.Generation = oldIC.Generation + 1
	}
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return wrongType(obj)
	}
	return validateSpec(&ic.Spec, field.NewPath("spec"))
}

func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return wrongType(obj)
	}
	oldIC, ok := old.(*networkingv1.IngressClass)
	if !ok {
		return wrongType(old)
	}
	allErrs := apimachineryvalidation.ValidateImmutableField(ic.Spec.Controller, oldIC.Spec.Controller, field.NewPath("spec", "controller"))
	return append(allErrs, validateSpec(&ic.Spec, field.NewPath("spec"))...)
}

func validateSpec(spec *networkingv1.IngressClassSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ctrlPath := fldPath.Child("controller")
	if spec.Controller == "" {
		allErrs = append(allErrs, field.Required(ctrlPath, ""))
	} else {
		if len(spec.Controller) > maxControllerLen {
			allErrs = append(allErrs, field.TooLong(ctrlPath, spec.Controller, maxControllerLen))
		}
		allErrs = append(allErrs, validation.IsDomainPrefixedPath(ctrlPath, spec.Controller)...)
	}
	return append(allErrs, validateParameters(spec.Parameters, fldPath.Child("parameters"))...)
}

func validateParameters(params *networkingv1.IngressClassParametersReference, fldPath *field.Path) field.ErrorList {
	if params == nil {
		return nil
	}
	var allErrs field.ErrorList
	if params.APIGroup != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*params.APIGroup) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiGroup"), *params.APIGroup, msg))
		}
	}
	allErrs = append(allErrs, pathSegment(params.Kind, fldPath.Child("kind"))...)
	allErrs = append(allErrs, pathSegment(params.Name, fldPath.Child("name"))...)

	if params.Scope == nil {
		return append(allErrs, field.Required(fldPath.Child("scope"), ""))
	}
	switch *params.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if params.Namespace == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		} else {
			for _, msg := range apimachineryvalidation.ValidateNamespaceName(*params.Namespace, false) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("namespace"), *params.Namespace, msg))
			}
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if params.Namespace != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("scope"), *params.Scope, []string{
			networkingv1.IngressClassParametersReferenceScopeCluster,
			networkingv1.IngressClassParametersReferenceScopeNamespace,
		}))
	}
	return allErrs
}

func pathSegment(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range path.IsValidPathSegmentName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func cells(obj runtime.Object) []interface{} {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return nil
	}
	params := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		var b strings.Builder
		b.WriteString(p.Kind)
		if p.APIGroup != nil {
			b.WriteString("." + *p.APIGroup)
		}
		b.WriteString("/" + p.Name)
		params = b.String()
	}
	return []interface{}{ic.Name, ic.Spec.Controller, params, registry.Age(ic.CreationTimestamp)}
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
