package endpointslice

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

const (
	maxTopologyLabels = 16
	maxAddresses      = 100
	maxPorts          = 20000
	maxEndpoints      = 1000
	maxZoneHints      = 8
	maxNodeHints      = 8
)

var (
	supportedAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}
	supportedProtocols    = []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}
)

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return wrongType(obj)
	}
	return validateSlice(eps)
}

func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return wrongType(obj)
	}
	oldEPS, ok := old.(*discoveryv1.EndpointSlice)
	if !ok {
		return wrongType(old)
	}
	allErrs := validateSlice(eps)
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(eps.AddressType, oldEPS.AddressType, field.NewPath("addressType"))...)
}

func validateSlice(eps *discoveryv1.EndpointSlice) field.ErrorList {
	var allErrs field.ErrorList
	typePath := field.NewPath("addressType")
	switch eps.AddressType {
	case "":
		allErrs = append(allErrs, field.Required(typePath, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		allErrs = append(allErrs, field.NotSupported(typePath, eps.AddressType, supportedAddressTypes))
	}
	allErrs = append(allErrs, validateEndpoints(eps.Endpoints, eps.AddressType, field.NewPath("endpoints"))...)
	return append(allErrs, validatePorts(eps.Ports, field.NewPath("ports"))...)
}

func validateEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var allErrs field.ErrorList
	for i, ep := range endpoints {
		idxPath := fldPath.Index(i)
		addrPath := idxPath.Child("addresses")
		if len(ep.Addresses) == 0 {
			allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxAddresses {
			allErrs = append(allErrs, field.TooMany(addrPath, len(ep.Addresses), maxAddresses))
		}
		for j, addr := range ep.Addresses {
			allErrs = append(allErrs, validateAddress(addr, addrType, addrPath.Index(j))...)
		}
		if ep.NodeName != nil {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		topoPath := idxPath.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			allErrs = append(allErrs, field.TooMany(topoPath, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		allErrs = append(allErrs, metav1validation.ValidateLabels(ep.DeprecatedTopology, topoPath)...)
		if _, found := ep.DeprecatedTopology[corev1.LabelTopologyZone]; found {
			allErrs = append(allErrs, field.InternalError(topoPath.Key(corev1.LabelTopologyZone), fmt.Errorf("reserved key was not removed in conversion")))
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.Hints != nil {
			allErrs = append(allErrs, validateHints(ep.Hints, idxPath.Child("hints"))...)
		}
	}
	return allErrs
}

// validateAddress checks one address against the slice's address type;
// unknown types are reported once, on addressType, and not here.
func validateAddress(addr string, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	switch addrType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := validation.IsValidIPForLegacyField(fldPath, addr, false, nil); len(errs) > 0 {
			return errs
		}
		var allErrs field.ErrorList
		if addrType == discoveryv1.AddressTypeIPv4 && !netutils.IsIPv4String(addr) {
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "must be an IPv4 address"))
		}
		if addrType == discoveryv1.AddressTypeIPv6 && !netutils.IsIPv6String(addr) {
			allErrs = append(allErrs, field.Invalid(fldPath, addr, "must be an IPv6 address"))
		}
		return append(allErrs, validateEndpointIP(addr, fldPath)...)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, addr)
	}
	return nil
}

// validateEndpointIP rejects addresses that make no sense as endpoints:
// unspecified, loopback and link-local ones.
func validateEndpointIP(addr string, fldPath *field.Path) field.ErrorList {
	ip := netutils.ParseIPSloppy(addr)
	if ip == nil {
		return nil
	}
	var allErrs field.ErrorList
	if ip.IsUnspecified() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
	}
	if ip.IsLoopback() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		allErrs = append(allErrs, field.Invalid(fldPath, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return allErrs
}

func validateHints(hints *discoveryv1.EndpointHints, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	zonesPath := fldPath.Child("forZones")
	if len(hints.ForZones) > maxZoneHints {
		return append(allErrs, field.TooMany(zonesPath, len(hints.ForZones), maxZoneHints))
	}
	zones := map[string]bool{}
	for i, zone := range hints.ForZones {
		namePath := zonesPath.Index(i).Child("name")
		if zones[zone.Name] {
			allErrs = append(allErrs, field.Duplicate(namePath, zone.Name))
		}
		zones[zone.Name] = true
		for _, msg := range validation.IsValidLabelValue(zone.Name) {
			allErrs = append(allErrs, field.Invalid(namePath, zone.Name, msg))
		}
	}
	nodesPath := fldPath.Child("forNodes")
	if len(hints.ForNodes) > maxNodeHints {
		return append(allErrs, field.TooMany(nodesPath, len(hints.ForNodes), maxNodeHints))
	}
	nodes := map[string]bool{}
	for i, node := range hints.ForNodes {
		namePath := nodesPath.Index(i).Child("name")
		if nodes[node.Name] {
			allErrs = append(allErrs, field.Duplicate(namePath, node.Name))
		}
		nodes[node.Name] = true
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(node.Name, false) {
			allErrs = append(allErrs, field.Invalid(namePath, node.Name, msg))
		}
	}
	return allErrs
}

func validatePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxPorts)}
	}
	var allErrs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		idxPath := fldPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), name, msg))
			}
		}
		if names[name] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), name))
		}
		names[name] = true
		switch {
		case port.Protocol == nil:
			allErrs = append(allErrs, field.Required(idxPath.Child("protocol"), ""))
		case *port.Protocol != corev1.ProtocolTCP && *port.Protocol != corev1.ProtocolUDP && *port.Protocol != corev1.ProtocolSCTP:
			allErrs = append(allErrs, field.NotSupported(idxPath.Child("protocol"), *port.Protocol, supportedProtocols))
		}
		if port.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*port.AppProtocol) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return allErrs
}
