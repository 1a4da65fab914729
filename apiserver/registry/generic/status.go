package generic

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
)

// keepStatus returns obj with the status of cur: the main resource of a
// resource with a status subresource ignores status changes.
func keepStatus(obj, cur runtime.Object) (runtime.Object, error) {
	return withField(obj, cur, "status")
}

// onlyStatusChanged returns cur with the status of obj: a status update
// changes nothing else. Managed fields are recorded afterwards.
func onlyStatusChanged(obj, cur runtime.Object) (runtime.Object, error) {
	out := cur.DeepCopyObject()
	return withField(out, obj, "status")
}

// withField returns dst with its top-level field name taken from src.
func withField(dst, src runtime.Object, name string) (runtime.Object, error) {
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dst)
	if err != nil {
		return nil, err
	}
	sm, err := runtime.DefaultUnstructuredConverter.ToUnstructured(src)
	if err != nil {
		return nil, err
	}
	if v, ok := sm[name]; ok {
		d[name] = v
	} else {
		delete(d, name)
	}
	if u, ok := dst.DeepCopyObject().(runtime.Unstructured); ok {
		u.SetUnstructuredContent(d)
		return u.(runtime.Object), nil
	}
	out := reflect.New(reflect.TypeOf(dst).Elem()).Interface().(runtime.Object)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d, out); err != nil {
		return nil, err
	}
	return out, nil
}
