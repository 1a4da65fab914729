package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations the pod manager sets, as the kubelet does.
const (
	labelPodName           = "io.kubernetes.pod.name"
	labelPodNamespace      = "io.kubernetes.pod.namespace"
	labelPodUID            = "io.kubernetes.pod.uid"
	labelContainerName     = "io.kubernetes.container.name"
	annotationRestartCount = "io.kubernetes.container.restartCount"
)

// podRef names a pod (uid optional) and one of its containers.
type podRef struct {
	namespace, pod, uid, container string
}

func refOf(r *http.Request) podRef {
	return podRef{namespace: r.PathValue("namespace"), pod: r.PathValue("pod"), uid: r.PathValue("uid"), container: r.PathValue("container")}
}

// containers returns the instances of a pod's container, newest first:
// the current one, then the previous restart's, and so on. When several
// pods of that name exist (one being replaced), the newest pod's count.
func (s *Server) containers(ctx context.Context, ref podRef) ([]*runtimeapi.Container, error) {
	sel := map[string]string{labelPodNamespace: ref.namespace, labelPodName: ref.pod, labelContainerName: ref.container}
	if ref.uid != "" {
		sel[labelPodUID] = ref.uid
	}
	resp, err := s.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s/%s: %w", ref.namespace, ref.pod, err)
	}
	cs := resp.Containers
	if len(cs) == 0 {
		return nil, nil
	}
	newest := cs[0]
	for _, c := range cs {
		if c.CreatedAt > newest.CreatedAt {
			newest = c
		}
	}
	uid := newest.Labels[labelPodUID]
	out := cs[:0:0]
	for _, c := range cs {
		if c.Labels[labelPodUID] == uid {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ai, aj := attempt(out[i]), attempt(out[j])
		if ai != aj {
			return ai > aj
		}
		return out[i].CreatedAt > out[j].CreatedAt
	})
	return out, nil
}

// attempt is a container instance's restart count.
func attempt(c *runtimeapi.Container) int {
	if n, err := strconv.Atoi(c.Annotations[annotationRestartCount]); err == nil {
		return n
	}
	if c.Metadata != nil {
		return int(c.Metadata.Attempt)
	}
	return 0
}

// runningContainer returns the ID of the pod's running container, as exec
// and attach need.
func (s *Server) runningContainer(ctx context.Context, ref podRef) (string, error) {
	cs, err := s.containers(ctx, ref)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c.Id, nil
		}
	}
	return "", errorf(http.StatusNotFound, "container not found (%q)", ref.container)
}

// sandbox returns the ID of the pod's ready sandbox, as port-forward
// needs.
func (s *Server) sandbox(ctx context.Context, ref podRef) (string, error) {
	sel := map[string]string{labelPodNamespace: ref.namespace, labelPodName: ref.pod}
	if ref.uid != "" {
		sel[labelPodUID] = ref.uid
	}
	resp, err := s.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: sel, State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil {
		return "", fmt.Errorf("list sandboxes of pod %s/%s: %w", ref.namespace, ref.pod, err)
	}
	var newest *runtimeapi.PodSandbox
	for _, sb := range resp.Items {
		if newest == nil || sb.CreatedAt > newest.CreatedAt {
			newest = sb
		}
	}
	if newest == nil {
		return "", errorf(http.StatusNotFound, "pod does not exist")
	}
	return newest.Id, nil
}
