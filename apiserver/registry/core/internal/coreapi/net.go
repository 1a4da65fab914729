package coreapi

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// LegacyIP checks an IP address of a field that predates strict IP
// validation (clusterIPs, externalIPs, endpoint addresses, ...). Kubernetes
// 1.33 validates these without the StrictIPCIDRValidation gate (alpha, off),
// so leading zeros and IPv4-mapped IPv6 addresses are accepted.
func LegacyIP(fldPath *field.Path, value string) field.ErrorList {
	return validation.IsValidIPForLegacyField(fldPath, value, false, nil)
}

// LegacyCIDR checks a CIDR of a field that predates strict validation
// (podCIDRs, loadBalancerSourceRanges).
func LegacyCIDR(fldPath *field.Path, value string) field.ErrorList {
	return validation.IsValidCIDRForLegacyField(fldPath, value, false, nil)
}

// NonSpecialIP rejects unspecified, loopback and link-local addresses, which
// make no sense as endpoints or external IPs.
func NonSpecialIP(value string, fldPath *field.Path) field.ErrorList {
	ip := netutils.ParseIPSloppy(value)
	if ip == nil {
		return field.ErrorList{field.Invalid(fldPath, value, "must be a valid IP address").WithOrigin("format=ip-sloppy")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(fldPath, value, fmt.Sprintf("may not be unspecified (%v)", value)).WithOrigin("format=non-special-ip"))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(fldPath, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)").WithOrigin("format=non-special-ip"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(fldPath, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)").WithOrigin("format=non-special-ip"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(fldPath, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)").WithOrigin("format=non-special-ip"))
	}
	return errs
}

// PortProtocol checks the protocol of a service or endpoint port.
func PortProtocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	supported := sets.New(corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
	if p == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if !supported.Has(p) {
		return field.ErrorList{field.NotSupported(fldPath, p, sets.List(supported))}
	}
	return nil
}

// PortNumber checks a port number (1-65535).
func PortNumber(port int32, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(fldPath, port, msg))
	}
	return errs
}
