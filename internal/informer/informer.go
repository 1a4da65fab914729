// Package informer holds helpers for client-go informer event handlers.
package informer

import "k8s.io/client-go/tools/cache"

// Object returns the object of an informer event as a T, unwrapping the
// cache.DeletedFinalStateUnknown tombstone a delete may carry.
func Object[T any](obj any) (T, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	t, ok := obj.(T)
	return t, ok
}
