package pod

import (
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/cgroup"
)

// CPU constants of the kubelet (pkg/kubelet/cm).
const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliPerCPU   = 1000
	quotaPeriod   = 100000 // µs
	minQuotaValue = 1000   // µs
)

// milliCPUToShares converts a CPU request to cpu.shares.
func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return minShares
	}
	shares := milli * sharesPerCPU / milliPerCPU
	return min(max(shares, minShares), maxShares)
}

// milliCPUToQuota converts a CPU limit to a CFS quota for period; 0 means
// no limit.
func milliCPUToQuota(milli, period int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*period/milliPerCPU, minQuotaValue)
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podResources aggregates a resource list of the pod's containers as
// Kubernetes does for requests and limits: the regular containers and
// sidecars add up, an init container counts with the sidecars started
// before it, the pod needs the larger of the two, plus its overhead.
func podResources(pod *corev1.Pod, of func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	add := func(to, from corev1.ResourceList) {
		for name, q := range from {
			sum := q.DeepCopy()
			if old, ok := to[name]; ok {
				sum.Add(old)
			}
			to[name] = sum
		}
	}
	for i := range pod.Spec.Containers {
		add(total, of(&pod.Spec.Containers[i]))
	}
	sidecars := corev1.ResourceList{}
	initMax := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		need := corev1.ResourceList{}
		if isSidecar(c) {
			add(total, of(c))
			add(sidecars, of(c))
			add(need, sidecars)
		} else {
			add(need, of(c))
			add(need, sidecars)
		}
		for name, q := range need {
			if old, ok := initMax[name]; !ok || q.Cmp(old) > 0 {
				initMax[name] = q
			}
		}
	}
	for name, q := range initMax {
		if old, ok := total[name]; !ok || q.Cmp(old) > 0 {
			total[name] = q
		}
	}
	add(total, pod.Spec.Overhead)
	return total
}

func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return podResources(pod, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
}

// qosClass is the pod's QoS class, as the API server set it (computed the
// same way if it is missing).
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		limited := 0
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[name]; ok && q.Sign() > 0 {
				requests[name] = q
			}
			if q, ok := c.Resources.Limits[name]; ok && q.Sign() > 0 {
				limits[name] = q
				limited++
				if r, ok := c.Resources.Requests[name]; ok && r.Cmp(q) != 0 {
					guaranteed = false
				}
			}
		}
		if limited < 2 {
			guaranteed = false
		}
	}
	switch {
	case len(requests) == 0 && len(limits) == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// podCgroupResources are the limits of the pod cgroup, as the kubelet's
// ResourceConfigForPod sets them: CPU shares from the requests; a CPU
// quota and a memory limit only when every container declares that
// limit (always for Guaranteed pods); BestEffort pods get the minimum
// shares and no limits.
func podCgroupResources(pod *corev1.Pod) cgroup.Resources {
	cpuDeclared, memDeclared := true, true
	limits := podResources(pod, func(c *corev1.Container) corev1.ResourceList {
		if c.Resources.Limits.Cpu().IsZero() {
			cpuDeclared = false
		}
		if c.Resources.Limits.Memory().IsZero() {
			memDeclared = false
		}
		return c.Resources.Limits
	})
	requests := podRequests(pod)
	shares := uint64(milliCPUToShares(requests.Cpu().MilliValue()))
	quota := milliCPUToQuota(limits.Cpu().MilliValue(), quotaPeriod)
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return cgroup.Resources{CPUShares: shares, CPUQuota: quota, CPUPeriod: quotaPeriod, Memory: limits.Memory().Value()}
	case corev1.PodQOSBurstable:
		r := cgroup.Resources{CPUShares: shares}
		if cpuDeclared {
			r.CPUQuota, r.CPUPeriod = quota, quotaPeriod
		}
		if memDeclared {
			r.Memory = limits.Memory().Value()
		}
		return r
	}
	return cgroup.Resources{CPUShares: minShares}
}

// containerResources are the CRI resources of a container, as the kubelet
// maps requests and limits: shares from the request (or the limit when
// only a limit is set), a CFS quota from the limit, the memory limit, and
// an OOM score by QoS class.
func containerResources(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuPeriod: quotaPeriod}
	cpuLimit := c.Resources.Limits.Cpu()
	if req, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok && !cpuLimit.IsZero() {
		r.CpuShares = milliCPUToShares(cpuLimit.MilliValue())
	} else {
		r.CpuShares = milliCPUToShares(req.MilliValue())
	}
	r.CpuQuota = milliCPUToQuota(cpuLimit.MilliValue(), quotaPeriod)
	if m := c.Resources.Limits.Memory().Value(); m != 0 {
		r.MemoryLimitInBytes = m
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, memoryCapacity)
	return r
}

// oomScoreAdj is the kubelet's OOM score adjustment of a container.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) int64 {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	if memoryCapacity <= 0 {
		return 999
	}
	request := c.Resources.Requests.Memory().Value()
	if isSidecar(c) { // sidecars are as precious as the pod's largest request
		for i := range pod.Spec.Containers {
			request = max(request, pod.Spec.Containers[i].Resources.Requests.Memory().Value())
		}
	}
	adj := 1000 - (1000*request)/memoryCapacity
	switch {
	case adj < 3:
		return 3
	case adj == 1000:
		return 999
	}
	return adj
}
