package pod

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations of sandboxes and containers: the kubelet's
// conventions, which the streaming server and stats also read.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"

	AnnotationRestartCount = "io.kubernetes.container.restartCount"

	annotationHash              = "io.kubernetes.container.hash"
	annotationTermMessagePath   = "io.kubernetes.container.terminationMessagePath"
	annotationTermMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"
	annotationPodGracePeriod    = "io.kubernetes.pod.terminationGracePeriod"
)

// sandbox is a pod sandbox as the runtime reports it.
type sandbox struct {
	id        string
	attempt   uint32
	ready     bool
	createdAt time.Time
	ips       []string // of a ready sandbox
	name      string   // the pod's name and namespace (metadata)
	namespace string
}

// container is one instance of a container as the runtime reports it.
type container struct {
	id, name     string
	sandboxID    string
	restartCount int32
	state        runtimeapi.ContainerState
	createdAt    time.Time
	startedAt    time.Time
	finishedAt   time.Time
	exitCode     int32
	reason       string
	message      string
	imageRef     string // repo@sha256:... (the status' imageID)
	hash         string
	gracePeriod  int64 // the pod's terminationGracePeriodSeconds when made
}

func (c *container) running() bool { return c.state == runtimeapi.ContainerState_CONTAINER_RUNNING }
func (c *container) exited() bool  { return c.state == runtimeapi.ContainerState_CONTAINER_EXITED }

// podRuntime is what the runtime has of one pod.
type podRuntime struct {
	sandboxes  []*sandbox   // newest first
	containers []*container // newest first
	// lastIPs are the addresses of the pod's last ready sandbox, which
	// the pod keeps in its status once it finished.
	lastIPs []string
}

// sandbox returns the newest sandbox, or nil.
func (r *podRuntime) sandbox() *sandbox {
	if len(r.sandboxes) == 0 {
		return nil
	}
	return r.sandboxes[0]
}

// latest returns the newest instance of the named container, or nil.
func (r *podRuntime) latest(name string) *container {
	for _, c := range r.containers {
		if c.name == name {
			return c
		}
	}
	return nil
}

// instances returns the instances of the named container, newest first.
func (r *podRuntime) instances(name string) []*container {
	var out []*container
	for _, c := range r.containers {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// running returns the running containers.
func (r *podRuntime) running() []*container {
	var out []*container
	for _, c := range r.containers {
		if c.running() {
			out = append(out, c)
		}
	}
	return out
}

// reader reads the runtime state of one pod, remembering what does not
// change (the status of an exited container, the addresses of a sandbox)
// between calls. It belongs to one pod worker.
type reader struct {
	rt      runtimeapi.RuntimeServiceClient
	known   map[string]*container // by ID
	ips     map[string][]string   // by sandbox ID
	lastIPs []string
	// message fills in the termination message of an exited container.
	message func(ctx context.Context, st *runtimeapi.ContainerStatus) string
}

func newReader(rt runtimeapi.RuntimeServiceClient, message func(context.Context, *runtimeapi.ContainerStatus) string) *reader {
	return &reader{rt: rt, known: map[string]*container{}, ips: map[string][]string{}, message: message}
}

// read lists the pod's sandboxes and containers.
func (r *reader) read(ctx context.Context, uid types.UID) (*podRuntime, error) {
	sel := map[string]string{LabelPodUID: string(uid)}
	sbs, err := r.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	cs, err := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := &podRuntime{}
	seenIPs := map[string]bool{}
	for _, s := range sbs.Items {
		sb := &sandbox{id: s.Id, ready: s.State == runtimeapi.PodSandboxState_SANDBOX_READY, createdAt: time.Unix(0, s.CreatedAt)}
		if s.Metadata != nil {
			sb.attempt, sb.name, sb.namespace = s.Metadata.Attempt, s.Metadata.Name, s.Metadata.Namespace
		}
		out.sandboxes = append(out.sandboxes, sb)
	}
	sort.SliceStable(out.sandboxes, func(i, j int) bool { return out.sandboxes[i].createdAt.After(out.sandboxes[j].createdAt) })
	if sb := out.sandbox(); sb != nil && sb.ready {
		ips, ok := r.ips[sb.id]
		if !ok {
			st, err := r.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.id})
			if err != nil {
				return nil, fmt.Errorf("sandbox status: %w", err)
			}
			if n := st.Status.GetNetwork(); n != nil && n.Ip != "" {
				ips = append(ips, n.Ip)
				for _, a := range n.AdditionalIps {
					ips = append(ips, a.Ip)
				}
			}
			r.ips[sb.id] = ips
		}
		sb.ips = ips
		seenIPs[sb.id] = true
		if len(ips) > 0 {
			r.lastIPs = ips
		}
	}
	out.lastIPs = r.lastIPs
	for id := range r.ips {
		if !seenIPs[id] {
			delete(r.ips, id)
		}
	}
	seen := map[string]bool{}
	for _, c := range cs.Containers {
		seen[c.Id] = true
		if k, ok := r.known[c.Id]; ok && k.state == c.State {
			out.containers = append(out.containers, k)
			continue
		}
		st, err := r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			return nil, fmt.Errorf("status of container %s: %w", c.Id, err)
		}
		k := fromStatus(st.Status, c.PodSandboxId)
		if k.exited() && r.message != nil {
			k.message = joinMessage(k.message, r.message(ctx, st.Status))
		}
		r.known[c.Id] = k
		out.containers = append(out.containers, k)
	}
	for id := range r.known {
		if !seen[id] {
			delete(r.known, id)
		}
	}
	sort.SliceStable(out.containers, func(i, j int) bool { return out.containers[i].createdAt.After(out.containers[j].createdAt) })
	return out, nil
}

func joinMessage(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "":
		return b
	}
	return a + ": " + b
}

// fromStatus converts a CRI container status.
func fromStatus(st *runtimeapi.ContainerStatus, sandboxID string) *container {
	c := &container{
		id:        st.Id,
		sandboxID: sandboxID,
		state:     st.State,
		createdAt: time.Unix(0, st.CreatedAt),
		exitCode:  st.ExitCode,
		reason:    st.Reason,
		message:   st.Message,
		imageRef:  st.ImageRef,
		name:      st.Labels[LabelContainerName],
		hash:      st.Annotations[annotationHash],
	}
	if c.name == "" && st.Metadata != nil {
		c.name = st.Metadata.Name
	}
	if st.StartedAt > 0 {
		c.startedAt = time.Unix(0, st.StartedAt)
	}
	if st.FinishedAt > 0 {
		c.finishedAt = time.Unix(0, st.FinishedAt)
	}
	if n, err := strconv.ParseInt(st.Annotations[AnnotationRestartCount], 10, 32); err == nil {
		c.restartCount = int32(n)
	} else if st.Metadata != nil {
		c.restartCount = int32(st.Metadata.Attempt)
	}
	if n, err := strconv.ParseInt(st.Annotations[annotationPodGracePeriod], 10, 64); err == nil {
		c.gracePeriod = n
	} else {
		c.gracePeriod = 30
	}
	return c
}
