package pod

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// Streams serves the pod subresources the API server proxies to the pod's
// node agent; nodeproxy.Proxy implements it. Each method answers the
// request (or returns an error before writing anything).
type Streams interface {
	Log(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error
	Exec(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error
	Attach(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error
	PortForward(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error
}

// Connect returns the pods/log, pods/exec, pods/attach and
// pods/portforward subresources, served by s.
func Connect(s Streams) []registry.Subresource {
	return []registry.Subresource{
		connect("log", "Pod", []string{"get"}, s.Log),
		connect("exec", "PodExecOptions", []string{"create", "get"}, s.Exec),
		connect("attach", "PodAttachOptions", []string{"create", "get"}, s.Attach),
		connect("portforward", "PodPortForwardOptions", []string{"create", "get"}, s.PortForward),
	}
}

func connect(name, kind string, verbs []string, serve func(context.Context, *corev1.Pod, http.ResponseWriter, *http.Request) error) registry.Subresource {
	return registry.Subresource{
		Name:  name,
		Kind:  corev1.SchemeGroupVersion.WithKind(kind),
		Verbs: verbs,
		New:   func() runtime.Object { return &corev1.Pod{} },
		Connect: func(ctx context.Context, objs registry.Objects, namespace, podName string, w http.ResponseWriter, r *http.Request) error {
			obj, err := objs.Get(ctx, namespace, podName)
			if err != nil {
				return err
			}
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return fmt.Errorf("pods/%s: unexpected object %T", name, obj)
			}
			return serve(ctx, pod, w, r)
		},
	}
}
