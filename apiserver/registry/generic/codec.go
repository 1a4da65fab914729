package generic

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	"berth/apiserver/registry"
	"berth/store"
)

// jsonCodec stores objects as JSON with their apiVersion and kind, and
// applies the resource's defaults when reading them back.
type jsonCodec struct {
	gvk      schema.GroupVersionKind
	newObj   func() runtime.Object
	defaults func(runtime.Object)
}

// StorageCodec returns the codec that stores r's objects.
func StorageCodec(r *registry.Resource) store.Codec {
	return jsonCodec{gvk: r.GroupVersionKind(), newObj: r.New, defaults: r.Default}
}

func (c jsonCodec) Encode(obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(c.gvk)
	return json.Marshal(obj)
}

func (c jsonCodec) Decode(data []byte) (runtime.Object, error) {
	obj := c.newObj()
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c.gvk.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(c.gvk)
	if c.defaults != nil {
		c.defaults(obj)
	}
	return obj, nil
}
