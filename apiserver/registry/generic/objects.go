package generic

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
)

// subresourceManager names the writes subresource handlers make.
const subresourceManager = "berth-apiserver"

// Modify applies fn to the current object and stores the result, keeping
// system metadata but bypassing the resource's update strategy and
// validation, as Kubernetes' subresources (binding, finalize) do.
func (s *Store) Modify(ctx context.Context, namespace, name string, fn func(obj runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	out, _, err := s.update(ctx, namespace, name, write{manager: subresourceManager, raw: true}, func(cur runtime.Object) (runtime.Object, error) {
		return fn(cur)
	})
	return out, err
}
