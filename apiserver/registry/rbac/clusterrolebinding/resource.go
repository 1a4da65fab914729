package clusterrolebinding

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/rbac/rules"
)

// Resource returns the description of rbac.authorization.k8s.io/v1
// clusterrolebindings.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:    rbacv1.GroupName,
		Version:  "v1",
		Resource: "clusterrolebindings",
		Kind:     "ClusterRoleBinding",
		ListKind: "ClusterRoleBindingList",
		Singular: "clusterrolebinding",

		New:     func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },

		ValidateName:   rules.ValidateName,
		Default:        setDefaults,
		Validate:       validateCreate,
		ValidateUpdate: validateUpdate,

		Columns: rules.BindingColumns("clusterRoleBinding"),
		Cells:   cells,
	}
}

func setDefaults(obj runtime.Object) {
	if b, ok := obj.(*rbacv1.ClusterRoleBinding); ok {
		rules.DefaultBinding(&b.RoleRef, b.Subjects)
	}
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	b, ok := obj.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return wrongType(obj)
	}
	return rules.ValidateBinding(b.RoleRef, b.Subjects, false)
}

func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	b, ok := obj.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return wrongType(obj)
	}
	oldB, ok := old.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return wrongType(old)
	}
	allErrs := rules.ValidateBinding(b.RoleRef, b.Subjects, false)
	return append(allErrs, rules.ValidateRoleRefUpdate(b.RoleRef, oldB.RoleRef)...)
}

func cells(obj runtime.Object) []interface{} {
	b, ok := obj.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return nil
	}
	return rules.BindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects)
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
