package node

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Limits of status.images, as the kubelet's.
const (
	maxImagesInStatus   = 50
	maxNamesPerImage    = 5
	annotationCMAD      = "volumes.kubernetes.io/controller-managed-attach-detach"
	labelOSBeta         = "beta.kubernetes.io/os"
	labelArchBeta       = "beta.kubernetes.io/arch"
	reasonKubeletReady  = "KubeletReady"
	messageKubeletReady = "kubelet is posting ready status"
)

// observation is everything the status is made of at one moment.
type observation struct {
	now      time.Time
	host     *sample
	runtime  *runtimeState
	readyErr error
	pressure pressures
	// images is nil when they could not be listed (the Node's are kept).
	images []corev1.ContainerImage
}

// statusInput is the configuration the status needs.
type statusInput struct {
	addresses  []corev1.NodeAddress
	port       int32
	version    string
	maxPods    int
	reserved   corev1.ResourceList
	thresholds thresholds
}

// buildStatus is the status the kubelet would post given the Node's
// current status old (empty at registration): the kubelet's fields are
// set, the others (volumes, conditions of other writers, resources it
// does not measure) kept. It returns the events the change calls for.
func (in *statusInput) buildStatus(old *corev1.NodeStatus, o *observation) (corev1.NodeStatus, []string) {
	st := *old.DeepCopy()
	st.Capacity = in.capacity(old.Capacity, o.host)
	st.Allocatable = allocatable(st.Capacity, in.reserved, in.thresholds.reservation(st.Capacity))
	st.Addresses = slices.Clone(in.addresses)
	st.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: in.port}}
	st.NodeInfo = in.nodeInfo(old.NodeInfo, o)
	if o.images != nil {
		st.Images = o.images
	}
	if o.runtime != nil {
		st.RuntimeHandlers = o.runtime.handlers
		st.Features = o.runtime.features
	}
	now := metav1.NewTime(o.now.Truncate(time.Second))
	var events []string
	for _, p := range []struct {
		t      corev1.NodeConditionType
		on     bool
		reason [2]string // False, True
		msg    [2]string
		event  [2]string
	}{
		{corev1.NodeMemoryPressure, o.pressure.memory,
			[2]string{"KubeletHasSufficientMemory", "KubeletHasInsufficientMemory"},
			[2]string{"kubelet has sufficient memory available", "kubelet has insufficient memory available"},
			[2]string{"NodeHasSufficientMemory", "NodeHasInsufficientMemory"}},
		{corev1.NodeDiskPressure, o.pressure.disk,
			[2]string{"KubeletHasNoDiskPressure", "KubeletHasDiskPressure"},
			[2]string{"kubelet has no disk pressure", "kubelet has disk pressure"},
			[2]string{"NodeHasNoDiskPressure", "NodeHasDiskPressure"}},
		{corev1.NodePIDPressure, o.pressure.pid,
			[2]string{"KubeletHasSufficientPID", "KubeletHasInsufficientPID"},
			[2]string{"kubelet has sufficient PID available", "kubelet has insufficient PID available"},
			[2]string{"NodeHasSufficientPID", "NodeHasInsufficientPID"}},
	} {
		i, status := 0, corev1.ConditionFalse
		if p.on {
			i, status = 1, corev1.ConditionTrue
		}
		c := conditionOf(&st, p.t)
		c.LastHeartbeatTime = now
		// As the kubelet, reason and message change only with the status.
		if c.Status != status {
			c.Status, c.Reason, c.Message, c.LastTransitionTime = status, p.reason[i], p.msg[i], now
			events = append(events, p.event[i])
		}
	}
	ready := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		Reason: reasonKubeletReady, Message: messageKubeletReady,
		LastHeartbeatTime: now,
	}
	if err := readyError(o.readyErr, st.Capacity); err != nil {
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, "KubeletNotReady", err.Error()
	}
	c := conditionOf(&st, corev1.NodeReady)
	prev := c.Status
	ready.LastTransitionTime = c.LastTransitionTime
	if prev != ready.Status {
		ready.LastTransitionTime = now
		switch {
		case ready.Status == corev1.ConditionTrue:
			events = append(events, "NodeReady")
		case prev != "":
			events = append(events, "NodeNotReady")
		}
	}
	*c = ready
	return st, events
}

// conditionOf is st's condition of type t, appended (with no status) if
// st has none, so that the kubelet's conditions keep their order.
func conditionOf(st *corev1.NodeStatus, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	st.Conditions = append(st.Conditions, corev1.NodeCondition{Type: t})
	return &st.Conditions[len(st.Conditions)-1]
}

// readyError adds the kubelet's missing-capacity check to the runtime's.
func readyError(runtimeErr error, capacity corev1.ResourceList) error {
	var missing []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if _, ok := capacity[r]; !ok {
			missing = append(missing, string(r))
		}
	}
	errs := []error{runtimeErr}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing node capacity for resources: %s", strings.Join(missing, ", ")))
	}
	return utilerrors.NewAggregate(errs)
}

// capacity is the node's capacity as the kubelet reports it: logical
// CPUs, MemTotal, the size of the root filesystem, max pods and the huge
// pages. Values that could not be measured keep their old value.
func (in *statusInput) capacity(old corev1.ResourceList, s *sample) corev1.ResourceList {
	c := old.DeepCopy()
	if c == nil {
		c = corev1.ResourceList{}
	}
	c[corev1.ResourcePods] = *resource.NewQuantity(int64(in.maxPods), resource.DecimalSI)
	if s == nil {
		return c
	}
	if s.machine.cpus > 0 {
		c[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(s.machine.cpus)*1000, resource.DecimalSI)
	}
	if s.machine.memory > 0 {
		c[corev1.ResourceMemory] = *resource.NewQuantity(s.machine.memory, resource.BinarySI)
	}
	if s.fs != nil {
		c[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(s.fs.capacity, resource.BinarySI)
	}
	for name, bytes := range s.machine.hugepages {
		c[name] = *resource.NewQuantity(bytes, resource.BinarySI)
	}
	return c
}

// allocatable is capacity less the reservations (reserved, then the hard
// eviction thresholds), never below zero; huge pages are taken from
// memory, as the kubelet computes it.
func allocatable(capacity, reserved, eviction corev1.ResourceList) corev1.ResourceList {
	a := make(corev1.ResourceList, len(capacity))
	for name, q := range capacity {
		v := q.DeepCopy()
		for _, r := range []corev1.ResourceList{reserved, eviction} {
			if x, ok := r[name]; ok {
				v.Sub(x)
			}
		}
		if v.Sign() < 0 {
			v.Set(0)
		}
		a[name] = v
	}
	if mem, ok := a[corev1.ResourceMemory]; ok {
		for name, q := range capacity {
			if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
				mem.Sub(q)
			}
		}
		if mem.Sign() < 0 {
			mem.Set(0)
		}
		a[corev1.ResourceMemory] = mem
	}
	return a
}

// nodeInfo is the system info: the host's identity, the runtime's version
// (the old one while the runtime does not answer) and the agent's.
func (in *statusInput) nodeInfo(old corev1.NodeSystemInfo, o *observation) corev1.NodeSystemInfo {
	info := old
	if o.host != nil {
		m := o.host.machine
		info.MachineID, info.SystemUUID, info.BootID = m.machineID, m.systemUUID, m.bootID
		info.KernelVersion, info.OSImage = m.kernelVersion, m.osImage
		if m.memory > 0 {
			info.Swap = &corev1.NodeSwapStatus{Capacity: &m.swap}
		}
	}
	if o.runtime != nil && o.runtime.version != "" {
		info.ContainerRuntimeVersion = o.runtime.version
	}
	info.KubeletVersion = in.version
	info.KubeProxyVersion = "" // deprecated; not reported since 1.31
	info.OperatingSystem = goruntime.GOOS
	info.Architecture = goruntime.GOARCH
	return info
}

// nodeImages are the images for status.images, as the kubelet lists them:
// the largest first, at most 50, each with its digests then tags, at most
// 5 names. Images without a name are left out.
func nodeImages(list []*runtimeapi.Image) []corev1.ContainerImage {
	imgs := slices.Clone(list)
	imgs = slices.DeleteFunc(imgs, func(i *runtimeapi.Image) bool {
		return i == nil || len(i.RepoDigests)+len(i.RepoTags) == 0
	})
	slices.SortStableFunc(imgs, func(a, b *runtimeapi.Image) int {
		if a.Size_ != b.Size_ {
			if a.Size_ > b.Size_ {
				return -1
			}
			return 1
		}
		return strings.Compare(b.Id, a.Id)
	})
	if len(imgs) > maxImagesInStatus {
		imgs = imgs[:maxImagesInStatus]
	}
	out := make([]corev1.ContainerImage, 0, len(imgs))
	for _, i := range imgs {
		names := append(slices.Clone(i.RepoDigests), i.RepoTags...)
		if len(names) > maxNamesPerImage {
			names = names[:maxNamesPerImage]
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(i.Size_)})
	}
	return out
}

// statusChanged tells whether want differs from have in more than the
// conditions' heartbeat times.
func statusChanged(have, want *corev1.NodeStatus) bool {
	strip := func(st *corev1.NodeStatus) *corev1.NodeStatus {
		c := st.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return c
	}
	return !apiequality.Semantic.DeepEqual(strip(have), strip(want))
}

// readyCondition is st's Ready condition (empty without one).
func readyCondition(st *corev1.NodeStatus) corev1.NodeCondition {
	for _, c := range st.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}
