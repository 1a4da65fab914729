package networkpolicy

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
)

// Resource returns the description of networking.k8s.io/v1 networkpolicies.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      "networking.k8s.io",
		Version:    "v1",
		Resource:   "networkpolicies",
		Kind:       "NetworkPolicy",
		ListKind:   "NetworkPolicyList",
		Singular:   "networkpolicy",
		ShortNames: []string{"netpol"},
		Namespaced: true,

		New:     func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		NewList: func() runtime.Object { return &networkingv1.NetworkPolicyList{} },

		Default:          setDefaults,
		PrepareForCreate: prepareForCreate,
		PrepareForUpdate: prepareForUpdate,
		Validate:         validateCreate,
		ValidateUpdate:   validateUpdate,

		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Pod-Selector", Type: "string", Description: networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]},
			registry.AgeColumn,
		},
		Cells: cells,
	}
}

// setDefaults applies networking/v1 defaults: ports default to TCP, and a
// policy without policyTypes is an Ingress policy, plus Egress when it has
// egress rules.
func setDefaults(obj runtime.Object) {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return
	}
	for i := range np.Spec.Ingress {
		defaultPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultPorts(np.Spec.Egress[i].Ports)
	}
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
}

func defaultPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			ports[i].Protocol = &tcp
		}
	}
}

func prepareForCreate(_ context.Context, obj runtime.Object) {
	if np, ok := obj.(*networkingv1.NetworkPolicy); ok {
		np.Generation = 1
	}
}

func prepareForUpdate(_ context.Context, obj, old runtime.Object) {
	np, ok1 := obj.(*networkingv1.NetworkPolicy)
	oldNP, ok2 := old.(*networkingv1.NetworkPolicy)
	if ok1 && ok2 && !apiequality.Semantic.DeepEqual(np.Spec, oldNP.Spec) {
		np.Generation = oldNP.Generation + 1
	}
}

func cells(obj runtime.Object) []interface{} {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return nil
	}
	return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), registry.Age(np.CreationTimestamp)}
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
