package coreapi

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Error messages Kubernetes uses for quantities and quota names.
const (
	notIntegerMsg        = "must be an integer"
	invalidQuotaResource = "must be a standard resource for quota"
)

// standardResources are the names known to the system (helper.standardResources).
func standardResources() sets.Set[corev1.ResourceName] {
	return sets.New(
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourceConfigMaps,
		corev1.ResourcePersistentVolumeClaims, corev1.ResourceStorage, corev1.ResourceRequestsStorage,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
	)
}

// standardQuotaResources are the names the quota system tracks.
func standardQuotaResources() sets.Set[corev1.ResourceName] {
	return sets.New(
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage,
		corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets,
		corev1.ResourcePersistentVolumeClaims, corev1.ResourceConfigMaps,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
	)
}

// integerResources are the names whose quantities must be whole numbers.
func integerResources() sets.Set[corev1.ResourceName] {
	return sets.New(
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourceConfigMaps,
		corev1.ResourcePersistentVolumeClaims, corev1.ResourceServicesNodePorts,
		corev1.ResourceServicesLoadBalancers,
	)
}

// IsHugePageResourceName reports whether name is "hugepages-<size>".
func IsHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// IsQuotaHugePageResourceName reports whether name is a huge page name as
// quota writes it, with or without the "requests." prefix.
func IsQuotaHugePageResourceName(name corev1.ResourceName) bool {
	return IsHugePageResourceName(name) || strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix)
}

// IsNativeResource reports whether name is in the kubernetes.io/ domain;
// unprefixed names are implicitly in it.
func IsNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// IsExtendedResourceName reports whether name is an extended resource: not
// native, not "requests."-prefixed, and a qualified name once prefixed.
func IsExtendedResourceName(name corev1.ResourceName) bool {
	if IsNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// IsOvercommitAllowed reports whether requests of name may be below limits.
func IsOvercommitAllowed(name corev1.ResourceName) bool {
	return IsNativeResource(name) && !IsHugePageResourceName(name)
}

// IsStandardResourceName reports whether name is known to the system.
func IsStandardResourceName(name corev1.ResourceName) bool {
	return standardResources().Has(name) || IsQuotaHugePageResourceName(name)
}

// IsStandardQuotaResourceName reports whether quota tracks name.
func IsStandardQuotaResourceName(name corev1.ResourceName) bool {
	return standardQuotaResources().Has(name) || IsQuotaHugePageResourceName(name)
}

// IsStandardContainerResourceName reports whether a container may request name.
func IsStandardContainerResourceName(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return IsHugePageResourceName(name)
}

// IsIntegerResourceName reports whether quantities of name must be integers.
func IsIntegerResourceName(name corev1.ResourceName) bool {
	return integerResources().Has(name) || IsExtendedResourceName(name)
}

// ValidateResourceName checks a compute resource name: a qualified name that,
// without a domain, must be a standard resource.
func ValidateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(name)) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	if len(errs) != 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !IsStandardResourceName(name) {
		errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource type or fully qualified"))
	}
	return errs
}

// ValidateContainerResourceName checks a resource name containers may use.
func ValidateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := ValidateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") {
		if !IsStandardContainerResourceName(name) {
			errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !IsNativeResource(name) && !IsExtendedResourceName(name) {
		errs = append(errs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

// ValidateQuotaResourceName checks a resource name in a ResourceQuota.
func ValidateQuotaResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := ValidateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") && !IsStandardQuotaResourceName(name) {
		errs = append(errs, field.Invalid(fldPath, name, invalidQuotaResource))
	}
	return errs
}

// ValidateNonnegativeQuantity checks that q is not negative.
func ValidateNonnegativeQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Cmp(resource.Quantity{}) < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), apimachineryvalidation.IsNegativeErrorMsg)}
	}
	return nil
}

// ValidateResourceQuantityValue checks that q is a valid amount of name: not
// negative, and whole for integer resources.
func ValidateResourceQuantityValue(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	errs := ValidateNonnegativeQuantity(q, fldPath)
	if IsIntegerResourceName(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, q, notIntegerMsg))
	}
	return errs
}

// RoundUpResourceList rounds every quantity up to milli precision, as
// Kubernetes' defaulting of ResourceList does.
func RoundUpResourceList(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(resource.Milli)
		list[name] = q
	}
}

// QualifiedName checks that value is a qualified name (e.g. "example.com/x").
func QualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg).WithOrigin("format=qualified-name"))
	}
	return errs
}

// DNS1123Label checks that value is a DNS-1123 label.
func DNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg).WithOrigin("format=dns-label"))
	}
	return errs
}

// DNS1123Subdomain checks that value is a DNS-1123 subdomain.
func DNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// ImmutableMsg is Kubernetes' message for a field that may not change.
const ImmutableMsg = apimachineryvalidation.FieldImmutableErrorMsg
