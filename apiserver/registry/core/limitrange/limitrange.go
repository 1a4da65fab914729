package limitrange

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/internal/coreapi"
)

// Resource returns the description of core/v1 limit ranges.
func Resource() *registry.Resource {
	meta := metav1.ObjectMeta{}.SwaggerDoc()
	return &registry.Resource{
		Version:    "v1",
		Resource:   "limitranges",
		Kind:       "LimitRange",
		ListKind:   "LimitRangeList",
		Singular:   "limitrange",
		ShortNames: []string{"limits"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.LimitRange{} },
		NewList:    func() runtime.Object { return &corev1.LimitRangeList{} },
		Default:    func(obj runtime.Object) { Default(obj.(*corev1.LimitRange)) },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			// Kubernetes names a limit range created without a name.
			if lr := obj.(*corev1.LimitRange); lr.Name == "" && lr.GenerateName == "" {
				lr.Name = string(uuid.NewUUID())
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validate(obj.(*corev1.LimitRange))
		},
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return validate(obj.(*corev1.LimitRange))
		},
		AllowCreateOnUpdate: true,
		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Created At", Type: "date", Description: meta["creationTimestamp"]},
		},
		Cells: func(obj runtime.Object) []interface{} {
			lr := obj.(*corev1.LimitRange)
			return []interface{}{lr.Name, lr.CreationTimestamp.Time.UTC().Format(time.RFC3339)}
		},
	}
}

// Default rounds quantities up to milli precision and, for Container
// limits, defaults the default limit to max, then the default request to
// the default limit, then to min (SetDefaults_LimitRangeItem).
func Default(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		for _, list := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			coreapi.RoundUpResourceList(list)
		}
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		fill := func(dst, src corev1.ResourceList) {
			for k, v := range src {
				if _, ok := dst[k]; !ok {
					dst[k] = v.DeepCopy()
				}
			}
		}
		fill(item.Default, item.Max)
		fill(item.DefaultRequest, item.Default)
		fill(item.DefaultRequest, item.Min)
	}
}

func validate(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	limitsPath := field.NewPath("spec", "limits")
	types := sets.New[corev1.LimitType]()
	for i := range lr.Spec.Limits {
		idxPath := limitsPath.Index(i)
		item := &lr.Spec.Limits[i]
		errs = append(errs, validateTypeName(item.Type, idxPath.Child("type"))...)
		if types.Has(item.Type) {
			errs = append(errs, field.Duplicate(idxPath.Child("type"), item.Type))
		}
		types.Insert(item.Type)

		keys := sets.New[string]()
		collect := func(list corev1.ResourceList, child string) map[string]resource.Quantity {
			out := map[string]resource.Quantity{}
			for k, q := range list {
				errs = append(errs, validateResourceName(item.Type, k, idxPath.Child(child).Key(string(k)))...)
				keys.Insert(string(k))
				out[string(k)] = q
			}
			return out
		}
		maxes := collect(item.Max, "max")
		mins := collect(item.Min, "min")
		defaults, defaultRequests := map[string]resource.Quantity{}, map[string]resource.Quantity{}
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(idxPath.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(idxPath.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			defaults = collect(item.Default, "default")
			defaultRequests = collect(item.DefaultRequest, "defaultRequest")
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(idxPath.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		ratios := collect(item.MaxLimitRequestRatio, "maxLimitRequestRatio")

		for _, k := range sets.List(keys) {
			errs = append(errs, validateOrder(k, idxPath, mins, maxes, defaults, defaultRequests, ratios)...)
		}
	}
	return errs
}

// validateOrder checks, for resource k, that min <= defaultRequest <=
// default <= max and that maxLimitRequestRatio is at least 1 and at most
// max/min, with Kubernetes' messages.
func validateOrder(k string, idxPath *field.Path, mins, maxes, defaults, defaultRequests, ratios map[string]resource.Quantity) field.ErrorList {
	var errs field.ErrorList
	minQ, hasMin := mins[k]
	maxQ, hasMax := maxes[k]
	defQ, hasDef := defaults[k]
	reqQ, hasReq := defaultRequests[k]
	ratio, hasRatio := ratios[k]
	key := func(child string) *field.Path { return idxPath.Child(child).Key(k) }

	if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(key("min"), minQ, fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
	}
	if hasReq && hasMin && minQ.Cmp(reqQ) > 0 {
		errs = append(errs, field.Invalid(key("defaultRequest"), reqQ, fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), reqQ.String())))
	}
	if hasReq && hasMax && reqQ.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(key("defaultRequest"), reqQ, fmt.Sprintf("default request value %s is greater than max value %s", reqQ.String(), maxQ.String())))
	}
	if hasReq && hasDef && reqQ.Cmp(defQ) > 0 {
		errs = append(errs, field.Invalid(key("defaultRequest"), reqQ, fmt.Sprintf("default request value %s is greater than default limit value %s", reqQ.String(), defQ.String())))
	}
	if hasDef && hasMin && minQ.Cmp(defQ) > 0 {
		errs = append(errs, field.Invalid(key("default"), minQ, fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), defQ.String())))
	}
	if hasDef && hasMax && defQ.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(key("default"), maxQ, fmt.Sprintf("default value %s is greater than max value %s", defQ.String(), maxQ.String())))
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		errs = append(errs, field.Invalid(key("maxLimitRequestRatio"), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
	}
	if hasRatio && hasMin && hasMax {
		ratioValue := float64(ratio.Value())
		minValue, maxValue := minQ.Value(), maxQ.Value()
		if ratio.Value() < resource.MaxMilliValue && minValue < resource.MaxMilliValue && maxValue < resource.MaxMilliValue {
			ratioValue = float64(ratio.MilliValue()) / 1000
			minValue, maxValue = minQ.MilliValue(), maxQ.MilliValue()
		}
		if limit := float64(maxValue) / float64(minValue); ratioValue > limit {
			errs = append(errs, field.Invalid(key("maxLimitRequestRatio"), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
		}
	}
	// Resources that may not be overcommitted (hugepages, extended
	// resources) need default == defaultRequest.
	if !coreapi.IsOvercommitAllowed(corev1.ResourceName(k)) && hasDef && hasReq && defQ.Cmp(reqQ) != 0 {
		errs = append(errs, field.Invalid(key("defaultRequest"), reqQ, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", defQ.String(), reqQ.String(), k)))
	}
	return errs
}

func validateTypeName(t corev1.LimitType, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(t)) {
		errs = append(errs, field.Invalid(fldPath, t, msg))
	}
	if len(errs) != 0 {
		return errs
	}
	standard := sets.New(corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim)
	if !strings.Contains(string(t), "/") && !standard.Has(t) {
		errs = append(errs, field.Invalid(fldPath, t, "must be a standard limit type or fully qualified"))
	}
	return errs
}

// validateResourceName checks a resource name of a limit: Pod and
// Container limits take container resources, other types (e.g.
// PersistentVolumeClaim) any resource.
func validateResourceName(t corev1.LimitType, name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	switch t {
	case corev1.LimitTypePod, corev1.LimitTypeContainer:
		return coreapi.ValidateContainerResourceName(name, fldPath)
	}
	return coreapi.ValidateResourceName(name, fldPath)
}
