package resourcequota

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/internal/coreapi"
)

// Resource returns the description of core/v1 resource quotas.
func Resource() *registry.Resource {
	return &registry.Resource{
		Version:    "v1",
		Resource:   "resourcequotas",
		Kind:       "ResourceQuota",
		ListKind:   "ResourceQuotaList",
		Singular:   "resourcequota",
		ShortNames: []string{"quota"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.ResourceQuota{} },
		NewList:    func() runtime.Object { return &corev1.ResourceQuotaList{} },
		Default: func(obj runtime.Object) {
			q := obj.(*corev1.ResourceQuota)
			coreapi.RoundUpResourceList(q.Spec.Hard)
			coreapi.RoundUpResourceList(q.Status.Hard)
			coreapi.RoundUpResourceList(q.Status.Used)
		},
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			obj.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			obj.(*corev1.ResourceQuota).Status = old.(*corev1.ResourceQuota).Status
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			q := obj.(*corev1.ResourceQuota)
			return append(validateSpec(&q.Spec, field.NewPath("spec")), validateStatus(&q.Status, field.NewPath("status"))...)
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return validateUpdate(obj.(*corev1.ResourceQuota), old.(*corev1.ResourceQuota))
		},
		Status: &registry.StatusSubresource{
			ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
				// Kubernetes also refuses unconditional writes of quota
				// (resourceVersion required); the generic store has no
				// such switch.
				return validateStatus(&obj.(*corev1.ResourceQuota).Status, field.NewPath("status"))
			},
		},
		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			registry.AgeColumn,
			{Name: "Request", Type: "string", Description: "Request represents a minimum amount of cpu/memory that a container may consume."},
			{Name: "Limit", Type: "string", Description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."},
		},
		Cells: func(obj runtime.Object) []interface{} { return cells(obj.(*corev1.ResourceQuota)) },
	}
}

func validateResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, v := range list {
		resPath := fldPath.Key(string(k))
		errs = append(errs, coreapi.ValidateQuotaResourceName(k, resPath)...)
		errs = append(errs, coreapi.ValidateResourceQuantityValue(k, v, resPath)...)
	}
	return errs
}

func validateSpec(spec *corev1.ResourceQuotaSpec, fldPath *field.Path) field.ErrorList {
	errs := validateResourceList(spec.Hard, fldPath.Child("hard"))
	errs = append(errs, validateScopes(spec, fldPath)...)
	if spec.ScopeSelector != nil {
		errs = append(errs, validateScopeSelector(spec, fldPath.Child("scopeSelector"))...)
	}
	return errs
}

func validateStatus(status *corev1.ResourceQuotaStatus, fldPath *field.Path) field.ErrorList {
	return append(validateResourceList(status.Hard, fldPath.Child("hard")), validateResourceList(status.Used, fldPath.Child("used"))...)
}

func validateUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	errs := validateSpec(&q.Spec, field.NewPath("spec"))
	oldScopes, newScopes := sets.New(old.Spec.Scopes...), sets.New(q.Spec.Scopes...)
	if !oldScopes.Equal(newScopes) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, coreapi.ImmutableMsg))
	}
	return errs
}

// standardScopes are the scopes Kubernetes 1.33 accepts (VolumeAttributesClass
// needs a feature gate that is off by default).
func standardScopes() sets.Set[corev1.ResourceQuotaScope] {
	return sets.New(
		corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	)
}

// scopeValidForResource reports whether a quota with this scope may limit
// resource (pod scopes apply to pod counts and compute resources only).
func scopeValidForResource(scope corev1.ResourceQuotaScope, name corev1.ResourceName) bool {
	podCompute := sets.New(corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory)
	switch scope {
	case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return podCompute.Has(name)
	case corev1.ResourceQuotaScopeBestEffort:
		return name == corev1.ResourcePods
	}
	return true
}

func conflictingScopes(scopes sets.Set[corev1.ResourceQuotaScope]) bool {
	return scopes.HasAll(corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort) ||
		scopes.HasAll(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating)
}

func validateScopes(spec *corev1.ResourceQuotaSpec, fld *field.Path) field.ErrorList {
	if len(spec.Scopes) == 0 {
		return nil
	}
	var errs field.ErrorList
	fldPath := fld.Child("scopes")
	hard := sortedNames(spec.Hard)
	seen := sets.New[corev1.ResourceQuotaScope]()
	for _, scope := range spec.Scopes {
		if !standardScopes().Has(scope) {
			errs = append(errs, field.Invalid(fldPath, spec.Scopes, "unsupported scope"))
		}
		for _, k := range hard {
			if coreapi.IsStandardQuotaResourceName(k) && !scopeValidForResource(scope, k) {
				errs = append(errs, field.Invalid(fldPath, spec.Scopes, "unsupported scope applied to resource"))
			}
		}
		seen.Insert(scope)
	}
	if conflictingScopes(seen) {
		errs = append(errs, field.Invalid(fldPath, spec.Scopes, "conflicting scopes"))
	}
	return errs
}

func validateScopeSelector(spec *corev1.ResourceQuotaSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	fldPath := fld.Child("matchExpressions")
	hard := sortedNames(spec.Hard)
	seen := sets.New[corev1.ResourceQuotaScope]()
	for _, req := range spec.ScopeSelector.MatchExpressions {
		if !standardScopes().Has(req.ScopeName) {
			errs = append(errs, field.Invalid(fldPath.Child("scopeName"), req.ScopeName, "unsupported scope"))
		}
		for _, k := range hard {
			if coreapi.IsStandardQuotaResourceName(k) && !scopeValidForResource(req.ScopeName, k) {
				errs = append(errs, field.Invalid(fldPath, spec.ScopeSelector, "unsupported scope applied to resource"))
			}
		}
		switch req.ScopeName {
		case corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeTerminating,
			corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
			if req.Operator != corev1.ScopeSelectorOpExists {
				errs = append(errs, field.Invalid(fldPath.Child("operator"), req.Operator,
					"must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
			}
		}
		switch req.Operator {
		case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(fldPath.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
			}
		case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
			if len(req.Values) != 0 {
				errs = append(errs, field.Invalid(fldPath.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
			}
		default:
			errs = append(errs, field.Invalid(fldPath.Child("operator"), req.Operator, "not a valid selector operator"))
		}
		seen.Insert(req.ScopeName)
	}
	if conflictingScopes(seen) {
		errs = append(errs, field.Invalid(fldPath, spec.Scopes, "conflicting scopes"))
	}
	return errs
}

func sortedNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for k := range list {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// cells renders a quota as kubectl does: "name: used/hard" for each
// resource of status.hard, limits.* resources in LIMIT, others in REQUEST.
func cells(q *corev1.ResourceQuota) []interface{} {
	var requests, limits []string
	for _, name := range sortedNames(q.Status.Hard) {
		used, hard := q.Status.Used[name], q.Status.Hard[name]
		entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if prefix, _, ok := strings.Cut(string(name), "."); ok && prefix == "limits" {
			limits = append(limits, entry)
		} else {
			requests = append(requests, entry)
		}
	}
	return []interface{}{q.Name, registry.Age(q.CreationTimestamp), strings.Join(requests, ", "), strings.Join(limits, ", ")}
}
