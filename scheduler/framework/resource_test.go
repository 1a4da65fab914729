package framework

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	st "berth/scheduler/schedtest"
)

func TestPodRequests(t *testing.T) {
	tests := []struct {
		name             string
		pod              *v1.Pod
		cpu, mem         int64 // requests
		nzCPU, nzMem     int64 // with defaults
		scalar           map[v1.ResourceName]int64
		ephemeralStorage int64
	}{
		{
			name:  "best effort counts the defaults when scoring",
			pod:   st.MakePod().Name("p").Obj(),
			nzCPU: DefaultMilliCPURequest, nzMem: DefaultMemoryRequest,
		},
		{
			name: "containers add up",
			pod:  st.MakePod().Name("p").Req("cpu", "500m", "memory", "1Gi").Container("cpu", "250m", "memory", "512Mi").Obj(),
			cpu:  750, mem: 1536 << 20, nzCPU: 750, nzMem: 1536 << 20,
		},
		{
			name: "explicit zero is kept, missing memory gets the default",
			pod:  st.MakePod().Name("p").Req("cpu", "0").Obj(),
			cpu:  0, nzCPU: 0, nzMem: DefaultMemoryRequest,
		},
		{
			name: "an init container bigger than the containers wins",
			pod: st.MakePod().Name("p").Req("cpu", "1", "memory", "1Gi").Container("cpu", "1", "memory", "1Gi").
				InitContainer(false, "cpu", "2", "memory", "3Gi").InitContainer(false, "cpu", "2", "memory", "1Gi").Obj(),
			cpu: 2000, mem: 3 << 30, nzCPU: 2000, nzMem: 3 << 30,
		},
		{
			name: "sidecars add to the containers and to later init containers",
			// sidecar 1 cpu keeps running: containers 1 + sidecar 1 = 2;
			// init after the sidecar: 1.5 + 1 = 2.5 while it runs.
			pod: st.MakePod().Name("p").Req("cpu", "1").
				InitContainer(true, "cpu", "1").InitContainer(false, "cpu", "1500m").Obj(),
			cpu: 2500, nzCPU: 2500, nzMem: 2 * DefaultMemoryRequest,
		},
		{
			name: "overhead is added",
			pod:  st.MakePod().Name("p").Req("cpu", "1", "memory", "1Gi").Overhead("cpu", "250m", "memory", "100Mi").Obj(),
			cpu:  1250, mem: 1124 << 20, nzCPU: 1250, nzMem: 1124 << 20,
		},
		{
			name:             "extended resources, hugepages and ephemeral storage",
			pod:              st.MakePod().Name("p").Req("example.com/gpu", "2", "hugepages-2Mi", "4Mi", "ephemeral-storage", "1Gi").Obj(),
			nzCPU:            DefaultMilliCPURequest,
			nzMem:            DefaultMemoryRequest,
			scalar:           map[v1.ResourceName]int64{"example.com/gpu": 2, "hugepages-2Mi": 4 << 20},
			ephemeralStorage: 1 << 30,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pi := NewPodInfo(tc.pod)
			r := pi.Requests
			if r.MilliCPU != tc.cpu || r.Memory != tc.mem || r.EphemeralStorage != tc.ephemeralStorage {
				t.Errorf("requests cpu %d mem %d storage %d, want %d %d %d", r.MilliCPU, r.Memory, r.EphemeralStorage, tc.cpu, tc.mem, tc.ephemeralStorage)
			}
			if pi.NonZeroCPU != tc.nzCPU || pi.NonZeroMemory != tc.nzMem {
				t.Errorf("non-zero cpu %d mem %d, want %d %d", pi.NonZeroCPU, pi.NonZeroMemory, tc.nzCPU, tc.nzMem)
			}
			if len(r.ScalarResources) != len(tc.scalar) {
				t.Errorf("scalars %v, want %v", r.ScalarResources, tc.scalar)
			}
			for k, v := range tc.scalar {
				if r.ScalarResources[k] != v {
					t.Errorf("scalar %s = %d, want %d", k, r.ScalarResources[k], v)
				}
			}
		})
	}
}

func TestRunningContainerResizedRequests(t *testing.T) {
	pod := st.MakePod().Name("p").Node("n").Req("cpu", "1").Obj()
	pod.Status.ContainerStatuses = []v1.ContainerStatus{{
		Name: "c", AllocatedResources: NewResourceList("cpu", "2"),
	}}
	if got := NewPodInfo(pod).Requests.MilliCPU; got != 2000 {
		t.Errorf("cpu %d, want the allocated 2000 (larger than the spec)", got)
	}
}

func NewResourceList(kv ...string) v1.ResourceList {
	return st.MakePod().Req(kv...).Obj().Spec.Containers[0].Resources.Requests
}

func TestIsScalarResourceName(t *testing.T) {
	for name, want := range map[v1.ResourceName]bool{
		"cpu": false, "memory": false, "pods": false,
		"example.com/gpu": true, "hugepages-1Gi": true, "kubernetes.io/foo": true,
		"attachable-volumes-csi-x": true, "requests.example.com/gpu": false,
	} {
		if got := IsScalarResourceName(name); got != want {
			t.Errorf("IsScalarResourceName(%s) = %v", name, got)
		}
	}
}
