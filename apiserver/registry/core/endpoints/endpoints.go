package endpoints

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/internal/coreapi"
)

// Resource returns the description of core/v1 endpoints.
func Resource() *registry.Resource {
	return &registry.Resource{
		Version:    "v1",
		Resource:   "endpoints",
		Kind:       "Endpoints",
		ListKind:   "EndpointsList",
		Singular:   "endpoints",
		ShortNames: []string{"ep"},
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.Endpoints{} },
		NewList:    func() runtime.Object { return &corev1.EndpointsList{} },
		Default:    func(obj runtime.Object) { Default(obj.(*corev1.Endpoints)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateSubsets(obj.(*corev1.Endpoints).Subsets, field.NewPath("subsets"))
		},
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return validateSubsets(obj.(*corev1.Endpoints).Subsets, field.NewPath("subsets"))
		},
		// Kubernetes repacks subsets after validation (Canonicalize); the
		// Begin hooks are the ones that run after validation here.
		BeginCreate: func(_ context.Context, obj runtime.Object, _ bool) (func(bool), error) {
			ep := obj.(*corev1.Endpoints)
			ep.Subsets = RepackSubsets(ep.Subsets)
			return func(bool) {}, nil
		},
		BeginUpdate: func(_ context.Context, obj, _ runtime.Object, _ bool) (func(bool), error) {
			ep := obj.(*corev1.Endpoints)
			ep.Subsets = RepackSubsets(ep.Subsets)
			return func(bool) {}, nil
		},
		AllowCreateOnUpdate: true,
		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]},
			registry.AgeColumn,
		},
		Cells: func(obj runtime.Object) []interface{} {
			ep := obj.(*corev1.Endpoints)
			return []interface{}{ep.Name, FormatEndpoints(ep), registry.Age(ep.CreationTimestamp)}
		},
	}
}

// Default sets the port protocol to TCP where it is unset.
func Default(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if p := &ep.Subsets[i].Ports[j]; p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func validateSubsets(subsets []corev1.EndpointSubset, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range subsets {
		ss := &subsets[i]
		idxPath := fldPath.Index(i)
		// Headless services may have endpoints without ports, not without
		// addresses.
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(idxPath, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			errs = append(errs, validateAddress(&ss.Addresses[j], idxPath.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			errs = append(errs, validateAddress(&ss.NotReadyAddresses[j], idxPath.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			errs = append(errs, validatePort(&ss.Ports[j], len(ss.Ports) > 1, idxPath.Child("ports").Index(j))...)
		}
	}
	return errs
}

func validateAddress(addr *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	errs := coreapi.LegacyIP(fldPath.Child("ip"), addr.IP)
	if addr.Hostname != "" {
		errs = append(errs, coreapi.DNS1123Label(addr.Hostname, fldPath.Child("hostname"))...)
	}
	if addr.NodeName != nil {
		for _, e := range coreapi.DNS1123Subdomain(*addr.NodeName, fldPath.Child("nodeName")) {
			errs = append(errs, e.WithOrigin("format=dns-label"))
		}
	}
	return append(errs, coreapi.NonSpecialIP(addr.IP, fldPath.Child("ip"))...)
}

func validatePort(port *corev1.EndpointPort, requireName bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && port.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else if port.Name != "" {
		errs = append(errs, coreapi.DNS1123Label(port.Name, fldPath.Child("name"))...)
	}
	for _, e := range coreapi.PortNumber(port.Port, fldPath.Child("port")) {
		errs = append(errs, e.WithOrigin("portNum"))
	}
	errs = append(errs, coreapi.PortProtocol(port.Protocol, fldPath.Child("protocol"))...)
	if port.AppProtocol != nil {
		errs = append(errs, coreapi.QualifiedName(*port.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return errs
}

// FormatEndpoints renders the ENDPOINTS cell as kubectl does: up to three
// "ip:port" entries (or bare IPs for subsets without ports), then
// " + N more...", or "<none>" without subsets. Not-ready addresses are not
// shown.
func FormatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	more := false
	count := 0
	add := func(s string) {
		if len(list) == max {
			more = true
			return
		}
		list = append(list, s)
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}
