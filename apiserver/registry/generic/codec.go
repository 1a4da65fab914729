package generic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	sigsjson "sigs.k8s.io/json"

	"berth/apiserver/registry"
	"berth/store"
)

// protoPrefix starts every protobuf-encoded object ("k8s\x00").
var protoPrefix = []byte{0x6b, 0x38, 0x73, 0x00}

// StorageCodec returns the codec that stores r's objects: protobuf for
// types that have it (every built-in type, as Kubernetes stores them), JSON
// otherwise (objects without Go types). Either reads both, so data written
// by an older berth stays readable.
func StorageCodec(r *registry.Resource, scheme *runtime.Scheme) store.Codec {
	c := codec{gvk: r.GroupVersionKind(), newObj: r.New, defaults: r.Default}
	if _, ok := r.New().(protoMarshaler); ok && scheme != nil && scheme.Recognizes(c.gvk) {
		c.proto = protobuf.NewSerializer(scheme, scheme)
	}
	return c
}

// protoMarshaler is implemented by types with generated protobuf code.
type protoMarshaler interface {
	Marshal() ([]byte, error)
}

type codec struct {
	gvk      schema.GroupVersionKind
	newObj   func() runtime.Object
	defaults func(runtime.Object)
	proto    *protobuf.Serializer // nil: JSON
}

func (c codec) Encode(obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(c.gvk)
	if c.proto != nil {
		var buf bytes.Buffer
		if err := c.proto.Encode(obj, &buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return json.Marshal(obj)
}

func (c codec) Decode(data []byte) (runtime.Object, error) {
	obj := c.newObj()
	if bytes.HasPrefix(data, protoPrefix) && c.proto != nil {
		if _, _, err := c.proto.Decode(data, &c.gvk, obj); err != nil {
			return nil, fmt.Errorf("decode %s: %w", c.gvk.Kind, err)
		}
	} else if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c.gvk.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(c.gvk)
	if c.defaults != nil {
		c.defaults(obj)
	}
	return obj, nil
}
