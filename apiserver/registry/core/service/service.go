package service

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of core/v1 services for a cluster whose
// service network is IPv4 only.
func Resource() *registry.Resource {
	return ResourceWithIPFamilies(corev1.IPv4Protocol)
}

// ResourceWithIPFamilies returns the description of core/v1 services for a
// cluster whose service CIDRs have the given IP families, the primary one
// first (one family, or IPv4 and IPv6 in either order for dual-stack).
// Services that ask for no family get the primary one.
func ResourceWithIPFamilies(families ...corev1.IPFamily) *registry.Resource {
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	return &registry.Resource{
		Version:             "v1",
		Resource:            "services",
		Kind:                "Service",
		ListKind:            "ServiceList",
		Singular:            "service",
		ShortNames:          []string{"svc"},
		Categories:          []string{"all"},
		Namespaced:          true,
		ReturnDeletedObject: true,
		Fields: func(obj runtime.Object) fields.Set {
			svc := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
		},
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		ValidateName: apimachineryvalidation.NameIsDNS1035Label,
		Default:      func(obj runtime.Object) { Default(obj.(*corev1.Service)) },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			svc := obj.(*corev1.Service)
			svc.Status = corev1.ServiceStatus{}
			normalizeClusterIPs(svc, nil)
			initIPFamilies(svc, nil, families)
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
			svc.Status = oldSvc.Status
			patchAllocatedValues(svc, oldSvc)
			normalizeClusterIPs(svc, oldSvc)
			dropTypeDependentFields(svc, oldSvc)
			initIPFamilies(svc, oldSvc, families)
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			svc := obj.(*corev1.Service)
			errs := validateService(svc)
			if len(errs) == 0 {
				errs = validateFamiliesConfigured(svc, families)
			}
			return errs
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
			errs := validateServiceUpdate(svc, oldSvc)
			if len(errs) == 0 {
				errs = validateFamiliesConfigured(svc, families)
			}
			return errs
		},
		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*corev1.Service)) },
		Status: &registry.StatusSubresource{
			ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
				svc := obj.(*corev1.Service)
				return validateLoadBalancerStatus(&svc.Status.LoadBalancer, field.NewPath("status", "loadBalancer"), &svc.Spec)
			},
		},
		// Kubernetes lets PUT create a missing service.
		AllowCreateOnUpdate: true,
	}
}

// IsHeadless reports whether svc is a headless service (clusterIP "None").
func IsHeadless(svc *corev1.Service) bool {
	return len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

// hasClusterIPFields reports whether svc carries clusterIP(s), ipFamilies
// and ipFamilyPolicy at all: every type but ExternalName ("None" counts).
func hasClusterIPFields(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

// NeedsClusterIP reports whether svc must hold allocated cluster IPs: every
// type but ExternalName, unless headless. Already set entries of
// spec.clusterIPs are to be reserved as given, empty ones allocated (one per
// entry of spec.ipFamilies, which is set by the time BeginCreate runs).
func NeedsClusterIP(svc *corev1.Service) bool {
	return hasClusterIPFields(svc) && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// typeNeedsNodePorts reports whether the type of svc has node ports.
func typeNeedsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// NeedsNodePorts reports whether node ports must be allocated for the ports
// of svc that have none: NodePort services, and LoadBalancer services unless
// spec.allocateLoadBalancerNodePorts is false. Ports that name a nodePort
// are to be reserved as given in any case.
func NeedsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// NeedsHealthCheckNodePort reports whether svc needs
// spec.healthCheckNodePort: a LoadBalancer with externalTrafficPolicy Local.
func NeedsHealthCheckNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// externallyAccessible reports whether svc is reachable from outside the
// cluster: NodePort, LoadBalancer, or ClusterIP with external IPs.
func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer ||
		svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}
