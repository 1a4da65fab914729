package generic

import (
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// converter maps objects between a resource and the storage it shares with
// another resource (events.k8s.io/v1 events kept as core/v1 events).
type converter struct {
	shared *registry.SharedStorage
}

func newConverter(r *registry.Resource) *converter { return &converter{shared: r.Storage} }

func (c *converter) fromStored(obj runtime.Object) (runtime.Object, error) {
	if c.shared == nil {
		return obj, nil
	}
	return c.shared.FromStored(obj)
}

func (c *converter) toStored(obj runtime.Object) (runtime.Object, error) {
	if c.shared == nil || obj == nil {
		return obj, nil
	}
	return c.shared.ToStored(obj)
}
