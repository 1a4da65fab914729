package service

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
	"k8s.io/utils/ptr"
)

// familyOf returns the IP family of ip, or "" if ip is not an IP.
func familyOf(ip string) corev1.IPFamily {
	parsed := netutils.ParseIPSloppy(ip)
	switch {
	case parsed == nil:
		return ""
	case parsed.To4() != nil:
		return corev1.IPv4Protocol
	default:
		return corev1.IPv6Protocol
	}
}

func otherFamily(f corev1.IPFamily) corev1.IPFamily {
	if f == corev1.IPv4Protocol {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// initIPFamilies fills spec.ipFamilies and spec.ipFamilyPolicy as the
// Kubernetes service allocator does (initIPFamilyFields) for a cluster whose
// service networks have the given families, primary first. old is nil on
// create. Inputs the cluster cannot serve are left for
// validateFamiliesConfigured to report.
func initIPFamilies(svc, old *corev1.Service, cluster []corev1.IPFamily) {
	if !hasClusterIPFields(svc) {
		return
	}
	spec := &svc.Spec
	if old != nil && isSingleStack(svc) {
		// Setting SingleStack on an unchanged dual-stack service releases
		// the secondary IP and family.
		if len(spec.ClusterIPs) > 1 && slices.Equal(old.Spec.ClusterIPs, spec.ClusterIPs) {
			spec.ClusterIPs = spec.ClusterIPs[:1]
		}
		if len(spec.IPFamilies) > 1 && slices.Equal(old.Spec.IPFamilies, spec.IPFamilies) {
			spec.IPFamilies = spec.IPFamilies[:1]
		}
	}

	// Infer families from given cluster IPs.
	for i, ip := range spec.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			break
		}
		fam := familyOf(ip)
		if fam == "" || !slices.Contains(cluster, fam) {
			break
		}
		if i >= len(spec.IPFamilies) {
			spec.IPFamilies = append(spec.IPFamilies, fam)
		}
	}

	// Headless services without a selector have no IPs and may carry any
	// families: they default to RequireDualStack with both families.
	if spec.ClusterIP == corev1.ClusterIPNone && len(spec.Selector) == 0 {
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []corev1.IPFamily{cluster[0]}
		}
		if spec.IPFamilyPolicy != nil && *spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack {
			spec.IPFamilies = spec.IPFamilies[:1]
		} else if len(spec.IPFamilies) == 1 {
			spec.IPFamilies = append(spec.IPFamilies, otherFamily(spec.IPFamilies[0]))
		}
		if spec.IPFamilyPolicy == nil {
			spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		}
		return
	}

	if spec.IPFamilyPolicy == nil {
		spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	}
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []corev1.IPFamily{cluster[0]}
	}
	if *spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack && len(spec.IPFamilies) == 1 && len(cluster) == 2 {
		spec.IPFamilies = append(spec.IPFamilies, otherFamily(spec.IPFamilies[0]))
	}
}

// validateFamiliesConfigured reports IP family requests the cluster cannot
// serve, with the errors of Kubernetes' service allocator.
func validateFamiliesConfigured(svc *corev1.Service, cluster []corev1.IPFamily) field.ErrorList {
	if !hasClusterIPFields(svc) {
		return nil
	}
	var errs field.ErrorList
	spec := &svc.Spec
	policyPath := field.NewPath("spec", "ipFamilyPolicy")
	if isSingleStack(svc) {
		if len(spec.ClusterIPs) == 2 {
			errs = append(errs, field.Invalid(policyPath, spec.IPFamilyPolicy,
				"must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
		}
		if len(spec.IPFamilies) == 2 {
			errs = append(errs, field.Invalid(policyPath, spec.IPFamilyPolicy,
				"must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}
	for i, ip := range spec.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			break
		}
		if fam := familyOf(ip); fam != "" && !slices.Contains(cluster, fam) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(i), spec.ClusterIPs,
				fmt.Sprintf("%s is not configured on this cluster", fam)))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Headless services without a selector may name any family.
	if spec.ClusterIP == corev1.ClusterIPNone && len(spec.Selector) == 0 {
		return nil
	}
	if spec.IPFamilyPolicy != nil && *spec.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack && len(cluster) < 2 {
		errs = append(errs, field.Invalid(policyPath, spec.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
	}
	for i, fam := range spec.IPFamilies {
		if !slices.Contains(cluster, fam) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilies").Index(i), fam, "not configured on this cluster"))
		}
	}
	return errs
}
