package node

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/internal/coreapi"
)

// Resource returns the description of core/v1 nodes.
func Resource() *registry.Resource {
	return &registry.Resource{
		Version:    "v1",
		Resource:   "nodes",
		Kind:       "Node",
		ListKind:   "NodeList",
		Singular:   "node",
		ShortNames: []string{"no"},
		Namespaced: false,
		New:        func() runtime.Object { return &corev1.Node{} },
		NewList:    func() runtime.Object { return &corev1.NodeList{} },
		Default:    func(obj runtime.Object) { Default(obj.(*corev1.Node)) },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			n := obj.(*corev1.Node)
			// Nodes may set every field on create, status included. The
			// deprecated dynamic kubelet configuration is dropped.
			n.Spec.ConfigSource = nil
			n.Status.Config = nil
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			n, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
			n.Status = oldNode.Status
			if oldNode.Spec.ConfigSource == nil {
				n.Spec.ConfigSource = nil
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validate(obj.(*corev1.Node))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			n := obj.(*corev1.Node)
			return append(validate(n), validateUpdate(n, old.(*corev1.Node))...)
		},
		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*corev1.Node)) },
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": fmt.Sprint(obj.(*corev1.Node).Spec.Unschedulable)}
		},
		Status: &registry.StatusSubresource{
			PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
				n, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
				n.Spec = oldNode.Spec
				if oldNode.Status.Config == nil {
					n.Status.Config = nil
				}
			},
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return validateUpdate(obj.(*corev1.Node), old.(*corev1.Node))
			},
		},
	}
}

// Default sets the defaults Kubernetes gives a node: podCIDR and podCIDRs
// agree (podCIDRs wins, podCIDR is its first entry), allocatable defaults
// to capacity, and quantities are rounded up to milli precision.
func Default(n *corev1.Node) {
	if len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR != "" {
		n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	}
	if len(n.Spec.PodCIDRs) > 0 {
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	}
	coreapi.RoundUpResourceList(n.Status.Capacity)
	coreapi.RoundUpResourceList(n.Status.Allocatable)
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = make(corev1.ResourceList, len(n.Status.Capacity))
		for k, v := range n.Status.Capacity {
			n.Status.Allocatable[k] = v.DeepCopy()
		}
	}
}
