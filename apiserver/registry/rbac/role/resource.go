package role

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/rbac/rules"
)

// Resource returns the description of rbac.authorization.k8s.io/v1 roles.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      rbacv1.GroupName,
		Version:    "v1",
		Resource:   "roles",
		Kind:       "Role",
		ListKind:   "RoleList",
		Singular:   "role",
		Namespaced: true,

		New:     func() runtime.Object { return &rbacv1.Role{} },
		NewList: func() runtime.Object { return &rbacv1.RoleList{} },

		ValidateName:   rules.ValidateName,
		Validate:       validate,
		ValidateUpdate: func(ctx context.Context, obj, _ runtime.Object) field.ErrorList { return validate(ctx, obj) },

		Columns: rules.RoleColumns(),
		Cells:   cells,
	}
}

// validate checks the rules; namespaced rules cannot name non-resource URLs.
func validate(_ context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*rbacv1.Role)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
	}
	return rules.ValidatePolicyRules(r.Rules, true)
}

func cells(obj runtime.Object) []interface{} {
	r, ok := obj.(*rbacv1.Role)
	if !ok {
		return nil
	}
	return rules.RoleCells(&r.ObjectMeta)
}
