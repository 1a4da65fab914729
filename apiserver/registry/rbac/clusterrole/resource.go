package clusterrole

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/rbac/rules"
)

// Resource returns the description of rbac.authorization.k8s.io/v1
// clusterroles.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:    rbacv1.GroupName,
		Version:  "v1",
		Resource: "clusterroles",
		Kind:     "ClusterRole",
		ListKind: "ClusterRoleList",
		Singular: "clusterrole",

		New:     func() runtime.Object { return &rbacv1.ClusterRole{} },
		NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },

		ValidateName:   rules.ValidateName,
		Validate:       validateCreate,
		ValidateUpdate: validateUpdate,

		Columns: rules.RoleColumns(),
		Cells:   cells,
	}
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*rbacv1.ClusterRole)
	if !ok {
		return wrongType(obj)
	}
	return validate(r, false)
}

// validateUpdate accepts aggregation selector values that were already
// invalid in the stored object.
func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	r, ok := obj.(*rbacv1.ClusterRole)
	if !ok {
		return wrongType(obj)
	}
	oldR, ok := old.(*rbacv1.ClusterRole)
	if !ok {
		return wrongType(old)
	}
	return validate(r, hasInvalidLabelValue(oldR))
}

func validate(r *rbacv1.ClusterRole, allowInvalidLabelValue bool) field.ErrorList {
	allErrs := rules.ValidatePolicyRules(r.Rules, false)
	if r.AggregationRule == nil {
		return allErrs
	}
	selectorsPath := field.NewPath("aggregationRule", "clusterRoleSelectors")
	if len(r.AggregationRule.ClusterRoleSelectors) == 0 {
		allErrs = append(allErrs, field.Required(selectorsPath, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: allowInvalidLabelValue}
	for i := range r.AggregationRule.ClusterRoleSelectors {
		sel := &r.AggregationRule.ClusterRoleSelectors[i]
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(sel, opts, selectorsPath.Index(i))...)
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			allErrs = append(allErrs, field.Invalid(selectorsPath.Index(i), sel, "invalid label selector."))
		}
	}
	return allErrs
}

func hasInvalidLabelValue(r *rbacv1.ClusterRole) bool {
	if r.AggregationRule == nil {
		return false
	}
	for i := range r.AggregationRule.ClusterRoleSelectors {
		if metav1validation.LabelSelectorHasInvalidLabelValue(&r.AggregationRule.ClusterRoleSelectors[i]) {
			return true
		}
	}
	return false
}

func cells(obj runtime.Object) []interface{} {
	r, ok := obj.(*rbacv1.ClusterRole)
	if !ok {
		return nil
	}
	return rules.RoleCells(&r.ObjectMeta)
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
