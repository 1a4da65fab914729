package endpointslice

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of discovery.k8s.io/v1 endpointslices.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "discovery.k8s.io",
		Version:    "v1",
		Resource:   "endpointslices",
		Kind:       "EndpointSlice",
		ListKind:   "EndpointSliceList",
		Singular:   "endpointslice",
		Namespaced: true,

		New:     func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },

		Default:          setDefaults,
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "AddressType", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]},
			{Name: "Ports", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]},
			{Name: "Endpoints", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
			registry.AgeColumn,
		},
		Cells: cells,
	}
}

// setDefaults gives every port a name ("") and the TCP protocol.
func setDefaults(obj runtime.Object) {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	for i := range eps.Ports {
		p := &eps.Ports[i]
		if p.Name == nil {
			name := ""
			p.Name = &name
		}
		if p.Protocol == nil {
			tcp := corev1.ProtocolTCP
			p.Protocol = &tcp
		}
	}
}

// prepareForCreate starts the generation at 1, clears deprecatedTopology
// (silently dropped on discovery/v1 writes) and drops the alpha per-node
// hints (PreferSameTrafficDistribution is off in Kubernetes 1.33).
func prepareForCreate(_ context.Context, obj runtime.Object) {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	eps.Generation = 1
	dropNodeHints(eps)
	for i := range eps.Endpoints {
		eps.Endpoints[i].DeprecatedTopology = nil
	}
}

// prepareForUpdate bumps the generation when anything but metadata, or the
// labels, changed; clears deprecatedTopology when the endpoints changed; and
// drops per-node hints unless the stored slice already has them.
func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	eps, ok1 := obj.(*discoveryv1.EndpointSlice)
	oldEPS, ok2 := old.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	if !apiequality.Semantic.DeepEqual(withoutMeta(eps), withoutMeta(oldEPS)) || !apiequality.Semantic.DeepEqual(eps.Labels, oldEPS.Labels) {
		eps.Generation = oldEPS.Generation + 1
	}
	if !usesNodeHints(oldEPS) {
		dropNodeHints(eps)
	}
	if !apiequality.Semantic.DeepEqual(eps.Endpoints, oldEPS.Endpoints) {
		for i := range eps.Endpoints {
			eps.Endpoints[i].DeprecatedTopology = nil
		}
	}
}

func withoutMeta(eps *discoveryv1.EndpointSlice) discoveryv1.EndpointSlice {
	c := *eps
	c.ObjectMeta = metav1.ObjectMeta{}
	c.TypeMeta = metav1.TypeMeta{}
	return c
}

func usesNodeHints(eps *discoveryv1.EndpointSlice) bool {
	for _, ep := range eps.Endpoints {
		if ep.Hints != nil && len(ep.Hints.ForNodes) != 0 {
			return true
		}
	}
	return false
}

func dropNodeHints(eps *discoveryv1.EndpointSlice) {
	for i := range eps.Endpoints {
		if eps.Endpoints[i].Hints != nil {
			eps.Endpoints[i].Hints.ForNodes = nil
		}
	}
}

func cells(obj runtime.Object) []interface{} {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil
	}
	return []interface{}{eps.Name, string(eps.AddressType), formatPorts(eps.Ports), formatEndpoints(eps.Endpoints), registry.Age(eps.CreationTimestamp)}
}

// formatPorts lists up to three port numbers (or names, "*" for neither).
func formatPorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	for _, p := range ports {
		switch {
		case p.Port != nil:
			list = append(list, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			list = append(list, *p.Name)
		default:
			list = append(list, "*")
		}
	}
	return listWithMore(list)
}

// formatEndpoints lists up to three addresses.
func formatEndpoints(endpoints []discoveryv1.Endpoint) string {
	var list []string
	for _, ep := range endpoints {
		list = append(list, ep.Addresses...)
	}
	return listWithMore(list)
}

func listWithMore(list []string) string {
	const max = 3
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ","), len(list)-max)
	}
	if len(list) == 0 {
		return "<unset>"
	}
	return strings.Join(list, ",")
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
