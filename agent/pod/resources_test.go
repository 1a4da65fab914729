package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"berth/agent/cgroup"
)

func rl(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func TestCPUConversions(t *testing.T) {
	for milli, want := range map[int64]int64{0: 2, 1: 2, 10: 10, 250: 256, 1000: 1024, 500000: 262144} {
		if got := milliCPUToShares(milli); got != want {
			t.Errorf("shares(%d) = %d, want %d", milli, got, want)
		}
	}
	for milli, want := range map[int64]int64{0: 0, 1: 1000, 5: 1000, 250: 25000, 1500: 150000} {
		if got := milliCPUToQuota(milli, quotaPeriod); got != want {
			t.Errorf("quota(%d) = %d, want %d", milli, got, want)
		}
	}
}

func TestContainerResources(t *testing.T) {
	tests := []struct {
		name                   string
		requests, limits       corev1.ResourceList
		qos                    corev1.PodQOSClass
		shares, quota, mem, oo int64
	}{
		{"best effort", nil, nil, corev1.PodQOSBestEffort, 2, 0, 0, 1000},
		{"guaranteed", rl("500m", "64Mi"), rl("500m", "64Mi"), corev1.PodQOSGuaranteed, 512, 50000, 64 << 20, -997},
		{"limit only", nil, rl("2", ""), corev1.PodQOSBurstable, 2048, 200000, 0, 999},
		{"burstable memory", rl("100m", "1Gi"), rl("", "2Gi"), corev1.PodQOSBurstable, 102, 0, 2 << 30, 750},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: tt.requests, Limits: tt.limits}}}},
			Status: corev1.PodStatus{QOSClass: tt.qos}}
		r := containerResources(pod, &pod.Spec.Containers[0], 4<<30)
		if r.CpuShares != tt.shares || r.CpuQuota != tt.quota || r.CpuPeriod != 100000 || r.MemoryLimitInBytes != tt.mem || r.OomScoreAdj != tt.oo {
			t.Errorf("%s: %+v", tt.name, r)
		}
	}
}

func TestPodCgroupResources(t *testing.T) {
	sidecar := ptr.To(corev1.ContainerRestartPolicyAlways)
	tests := []struct {
		name string
		spec corev1.PodSpec
		want cgroup.Resources
	}{
		{"best effort", corev1.PodSpec{Containers: []corev1.Container{{}}}, cgroup.Resources{CPUShares: 2}},
		{"guaranteed sums", corev1.PodSpec{Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: rl("250m", "64Mi"), Limits: rl("250m", "64Mi")}},
			{Resources: corev1.ResourceRequirements{Requests: rl("500m", "64Mi"), Limits: rl("500m", "64Mi")}},
		}}, cgroup.Resources{CPUShares: 768, CPUQuota: 75000, CPUPeriod: 100000, Memory: 128 << 20}},
		{"init container larger", corev1.PodSpec{
			InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("1", "256Mi"), Limits: rl("1", "256Mi")}}},
			Containers:     []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("250m", "64Mi"), Limits: rl("250m", "64Mi")}}},
		}, cgroup.Resources{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, Memory: 256 << 20}},
		{"sidecar adds up", corev1.PodSpec{
			InitContainers: []corev1.Container{{RestartPolicy: sidecar, Resources: corev1.ResourceRequirements{Requests: rl("100m", "32Mi"), Limits: rl("100m", "32Mi")}}},
			Containers:     []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("200m", "64Mi"), Limits: rl("200m", "64Mi")}}},
		}, cgroup.Resources{CPUShares: 307, CPUQuota: 30000, CPUPeriod: 100000, Memory: 96 << 20}},
		{"burstable without all limits", corev1.PodSpec{Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: rl("250m", ""), Limits: rl("", "64Mi")}},
			{Resources: corev1.ResourceRequirements{Requests: rl("", "32Mi")}},
		}}, cgroup.Resources{CPUShares: 256}},
		{"burstable with memory limits", corev1.PodSpec{Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: rl("250m", "32Mi"), Limits: rl("", "64Mi")}},
		}}, cgroup.Resources{CPUShares: 256, Memory: 64 << 20}},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{Spec: tt.spec}
		if got := podCgroupResources(pod); got != tt.want {
			t.Errorf("%s: %+v, want %+v (qos %s)", tt.name, got, tt.want, qosClass(pod))
		}
	}
}

func TestQOSClass(t *testing.T) {
	tests := []struct {
		name string
		c    corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"none", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"equal", corev1.ResourceRequirements{Requests: rl("1", "1Gi"), Limits: rl("1", "1Gi")}, corev1.PodQOSGuaranteed},
		{"cpu only", corev1.ResourceRequirements{Requests: rl("1", ""), Limits: rl("1", "")}, corev1.PodQOSBurstable},
		{"request below", corev1.ResourceRequirements{Requests: rl("500m", "1Gi"), Limits: rl("1", "1Gi")}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: tt.c}}}}
		if got := qosClass(pod); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
