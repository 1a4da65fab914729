package framework

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultMilliCPURequest and DefaultMemoryRequest stand for a container
// without a cpu or memory request when nodes are scored (not filtered), so
// that best-effort pods still spread.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of the resources the scheduler counts: cpu in
// millicores, memory and ephemeral storage in bytes, a number of pods, and
// scalar resources (extended resources, hugepages, ...) in units.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int
	ScalarResources  map[v1.ResourceName]int64
}

// NewResource returns the amounts of a resource list.
func NewResource(rl v1.ResourceList) Resource {
	var r Resource
	r.Add(rl)
	return r
}

// Add adds a resource list.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += int(q.Value())
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
}

// AddScalar adds to a scalar resource.
func (r *Resource) AddScalar(name v1.ResourceName, n int64) {
	if r.ScalarResources == nil {
		r.ScalarResources = map[v1.ResourceName]int64{}
	}
	r.ScalarResources[name] += n
}

// AddResource adds o (times sign: +1 or -1) to r.
func (r *Resource) AddResource(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.AllowedPodNumber += int(sign) * o.AllowedPodNumber
	for name, n := range o.ScalarResources {
		r.AddScalar(name, sign*n)
	}
}

// SetMax raises each amount of r to o's when o's is larger.
func (r *Resource) SetMax(o *Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	r.AllowedPodNumber = max(r.AllowedPodNumber, o.AllowedPodNumber)
	for name, n := range o.ScalarResources {
		if n > r.ScalarResources[name] {
			r.AddScalar(name, n-r.ScalarResources[name])
		}
	}
}

// Clone returns a copy that shares nothing with r.
func (r *Resource) Clone() Resource {
	c := *r
	if r.ScalarResources != nil {
		c.ScalarResources = make(map[v1.ResourceName]int64, len(r.ScalarResources))
		for k, v := range r.ScalarResources {
			c.ScalarResources[k] = v
		}
	}
	return c
}

// IsZero is true when nothing is requested.
func (r *Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, n := range r.ScalarResources {
		if n != 0 {
			return false
		}
	}
	return true
}

// IsScalarResourceName is true for the resources counted as scalars:
// extended resources, hugepages, kubernetes.io/-prefixed native resources
// and attachable volumes.
func IsScalarResourceName(name v1.ResourceName) bool {
	return IsExtendedResourceName(name) || strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix) ||
		isPrefixedNativeResource(name) || strings.HasPrefix(string(name), v1.ResourceAttachableVolumesPrefix)
}

// IsExtendedResourceName is true for a domain-prefixed resource outside
// kubernetes.io (such as example.com/gpu).
func IsExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || isPrefixedNativeResource(name) || strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(v1.DefaultResourceRequestsPrefix+s)) == 0
}

func isPrefixedNativeResource(name v1.ResourceName) bool {
	return strings.Contains(string(name), v1.ResourceDefaultNamespacePrefix)
}

// podRequests computes what a pod requests as Kubernetes does
// (k8s.io/component-helpers resource.PodRequests): the sum of its
// containers, or more if an init container needs more while it runs
// (restartable "sidecar" init containers keep running and add up), plus
// the pod overhead. With nonZero, a container without a cpu or memory
// request counts the defaults above. The requests of a running container
// are the larger of its spec and what its status reports (in-place
// resize).
func podRequests(pod *v1.Pod, nonZero bool) Resource {
	var statuses map[string]*v1.ContainerStatus
	if len(pod.Status.ContainerStatuses)+len(pod.Status.InitContainerStatuses) > 0 {
		statuses = make(map[string]*v1.ContainerStatus, len(pod.Status.ContainerStatuses)+len(pod.Status.InitContainerStatuses))
		for i := range pod.Status.ContainerStatuses {
			statuses[pod.Status.ContainerStatuses[i].Name] = &pod.Status.ContainerStatuses[i]
		}
		for i := range pod.Status.InitContainerStatuses {
			statuses[pod.Status.InitContainerStatuses[i].Name] = &pod.Status.InitContainerStatuses[i]
		}
	}
	var reqs Resource
	for i := range pod.Spec.Containers {
		c := containerRequests(&pod.Spec.Containers[i], statuses[pod.Spec.Containers[i].Name], nonZero)
		reqs.AddResource(&c, 1)
	}
	var sidecars, initMax Resource
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		c := containerRequests(ic, statuses[ic.Name], nonZero)
		if ic.RestartPolicy != nil && *ic.RestartPolicy == v1.ContainerRestartPolicyAlways {
			reqs.AddResource(&c, 1)
			sidecars.AddResource(&c, 1)
			c = sidecars.Clone()
		} else {
			c.AddResource(&sidecars, 1)
		}
		initMax.SetMax(&c)
	}
	reqs.SetMax(&initMax)
	if pod.Spec.Overhead != nil {
		reqs.Add(pod.Spec.Overhead)
	}
	return reqs
}

func containerRequests(c *v1.Container, status *v1.ContainerStatus, nonZero bool) Resource {
	r := NewResource(c.Resources.Requests)
	if status != nil {
		if status.Resources != nil {
			s := NewResource(status.Resources.Requests)
			r.SetMax(&s)
		}
		if status.AllocatedResources != nil {
			s := NewResource(status.AllocatedResources)
			r.SetMax(&s)
		}
	}
	if nonZero {
		if _, ok := c.Resources.Requests[v1.ResourceCPU]; !ok && r.MilliCPU == 0 {
			r.MilliCPU = DefaultMilliCPURequest
		}
		if _, ok := c.Resources.Requests[v1.ResourceMemory]; !ok && r.Memory == 0 {
			r.Memory = DefaultMemoryRequest
		}
	}
	return r
}
