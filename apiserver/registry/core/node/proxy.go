package node

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// Proxier forwards requests to a node's agent; nodeproxy.Proxy implements
// it.
type Proxier interface {
	Node(ctx context.Context, node *corev1.Node, w http.ResponseWriter, r *http.Request) error
}

// Proxy returns the nodes/proxy subresource: /api/v1/nodes/NAME/proxy/PATH
// reaches PATH on the node's agent (e.g. /stats/summary).
func Proxy(p Proxier) registry.Subresource {
	return registry.Subresource{
		Name:  "proxy",
		Kind:  corev1.SchemeGroupVersion.WithKind("NodeProxyOptions"),
		Verbs: []string{"create", "get"},
		New:   func() runtime.Object { return &corev1.NodeProxyOptions{} },
		Connect: func(ctx context.Context, objs registry.Objects, _, name string, w http.ResponseWriter, r *http.Request) error {
			obj, err := objs.Get(ctx, "", name)
			if err != nil {
				return err
			}
			node, ok := obj.(*corev1.Node)
			if !ok {
				return fmt.Errorf("nodes/proxy: unexpected object %T", obj)
			}
			return p.Node(ctx, node, w, r)
		},
	}
}
