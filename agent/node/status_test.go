package node

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func testInput(t *testing.T, reserved corev1.ResourceList, eviction map[string]string) *statusInput {
	t.Helper()
	ts, err := parseThresholds(eviction)
	if err != nil {
		t.Fatal(err)
	}
	return &statusInput{
		addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.2"}, {Type: corev1.NodeHostName, Address: "n1"}},
		port:      10250, version: "v1.33.0+berth", maxPods: 110, reserved: reserved, thresholds: ts,
	}
}

func testSample() *sample {
	return &sample{
		machine: machineInfo{
			cpus: 2, memory: 4 << 30, swap: 0,
			hugepages: map[corev1.ResourceName]int64{"hugepages-2Mi": 4 << 20, "hugepages-1Gi": 0},
			machineID: "mid", systemUUID: "uuid", bootID: "boot", kernelVersion: "6.1.0", osImage: "Debian GNU/Linux 12 (bookworm)",
		},
		memory: &memorySample{capacity: 4 << 30, available: 2 << 30},
		fs:     &fsSample{capacity: 100 << 30, available: 50 << 30, inodes: 1000, inodesFree: 900},
		pids:   &pidSample{max: 32768, running: 100},
	}
}

func quantities(l corev1.ResourceList) map[corev1.ResourceName]string {
	out := map[corev1.ResourceName]string{}
	for k, v := range l {
		out[k] = v.String()
	}
	return out
}

func TestCapacityAndAllocatable(t *testing.T) {
	for _, tc := range []struct {
		name            string
		reserved        corev1.ResourceList
		eviction        map[string]string
		change          func(*sample)
		wantCapacity    map[corev1.ResourceName]string
		wantAllocatable map[corev1.ResourceName]string
	}{
		{
			name: "no reservation: eviction thresholds and huge pages only",
			wantCapacity: map[corev1.ResourceName]string{
				"cpu": "2", "memory": "4Gi", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
			wantAllocatable: map[corev1.ResourceName]string{
				// 4Gi - 100Mi - 4Mi; 100Gi - 10%.
				"cpu": "2", "memory": "3992Mi", "ephemeral-storage": "90Gi", "pods": "110", "hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
		},
		{
			name: "system and kube reserved",
			reserved: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi"),
				corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
			},
			eviction: map[string]string{"memory.available": "0", "nodefs.available": "0%"},
			wantCapacity: map[corev1.ResourceName]string{
				"cpu": "2", "memory": "4Gi", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
			wantAllocatable: map[corev1.ResourceName]string{
				"cpu": "1750m", "memory": "3580Mi", "ephemeral-storage": "99Gi", "pods": "110", "hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
		},
		{
			name:     "reservation over capacity stops at zero",
			reserved: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			wantCapacity: map[corev1.ResourceName]string{
				"cpu": "2", "memory": "4Gi", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
			wantAllocatable: map[corev1.ResourceName]string{
				"cpu": "0", "memory": "0", "ephemeral-storage": "90Gi", "pods": "110", "hugepages-2Mi": "4Mi", "hugepages-1Gi": "0",
			},
		},
		{
			name:   "filesystem not measured: no ephemeral-storage",
			change: func(s *sample) { s.fs = nil; s.machine.hugepages = nil },
			wantCapacity: map[corev1.ResourceName]string{
				"cpu": "2", "memory": "4Gi", "pods": "110",
			},
			wantAllocatable: map[corev1.ResourceName]string{
				"cpu": "2", "memory": "3996Mi", "pods": "110",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, tc.reserved, tc.eviction)
			s := testSample()
			if tc.change != nil {
				tc.change(s)
			}
			c := in.capacity(nil, s)
			a := allocatable(c, in.reserved, in.thresholds.reservation(c))
			if got := quantities(c); fmt.Sprint(got) != fmt.Sprint(tc.wantCapacity) {
				t.Errorf("capacity\n got %v\nwant %v", got, tc.wantCapacity)
			}
			if got := quantities(a); fmt.Sprint(got) != fmt.Sprint(tc.wantAllocatable) {
				t.Errorf("allocatable\n got %v\nwant %v", got, tc.wantAllocatable)
			}
		})
	}
}

// cond is a condition's type, status, reason, message and whether
// its transition time is now.
type cond struct {
	t              corev1.NodeConditionType
	status         corev1.ConditionStatus
	reason         string
	message        string
	transitionsNow bool
}

func kubeletConditions(status corev1.ConditionStatus, at time.Time) []corev1.NodeCondition {
	t := metav1.NewTime(at)
	reasons := map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure: "KubeletHasSufficientMemory", corev1.NodeDiskPressure: "KubeletHasNoDiskPressure",
		corev1.NodePIDPressure: "KubeletHasSufficientPID",
	}
	var out []corev1.NodeCondition
	for _, c := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		out = append(out, corev1.NodeCondition{Type: c, Status: corev1.ConditionFalse, Reason: reasons[c], LastHeartbeatTime: t, LastTransitionTime: t})
	}
	return append(out, corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: reasonKubeletReady, LastHeartbeatTime: t, LastTransitionTime: t})
}

func TestConditionsAndEvents(t *testing.T) {
	earlier := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	now := earlier.Add(time.Hour)
	unknown := kubeletConditions(corev1.ConditionUnknown, earlier)
	for i := range unknown {
		unknown[i].Status, unknown[i].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	}
	network := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated"}
	netErr := errors.New("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni plugin not initialized")
	for _, tc := range []struct {
		name       string
		old        []corev1.NodeCondition
		pressure   pressures
		readyErr   error
		want       []cond
		wantEvents []string
	}{
		{
			name: "registration",
			want: []cond{
				{corev1.NodeMemoryPressure, "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", true},
				{corev1.NodeDiskPressure, "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", true},
				{corev1.NodePIDPressure, "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", true},
				{corev1.NodeReady, "True", "KubeletReady", "kubelet is posting ready status", true},
			},
			wantEvents: []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"},
		},
		{
			name:     "registration while the network is not ready",
			readyErr: netErr,
			want: []cond{
				{corev1.NodeMemoryPressure, "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", true},
				{corev1.NodeDiskPressure, "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", true},
				{corev1.NodePIDPressure, "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", true},
				{corev1.NodeReady, "False", "KubeletNotReady", netErr.Error(), true},
			},
			wantEvents: []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"},
		},
		{
			name: "nothing changed: transition times kept, no events",
			old:  append(kubeletConditions(corev1.ConditionTrue, earlier), network),
			want: []cond{
				{corev1.NodeMemoryPressure, "False", "KubeletHasSufficientMemory", "", false},
				{corev1.NodeDiskPressure, "False", "KubeletHasNoDiskPressure", "", false},
				{corev1.NodePIDPressure, "False", "KubeletHasSufficientPID", "", false},
				{corev1.NodeReady, "True", "KubeletReady", "kubelet is posting ready status", false},
				{corev1.NodeNetworkUnavailable, "False", "RouteCreated", "", false},
			},
		},
		{
			name:     "memory and disk pressure, runtime down",
			old:      kubeletConditions(corev1.ConditionTrue, earlier),
			pressure: pressures{memory: true, disk: true},
			readyErr: errors.New("container runtime is down"),
			want: []cond{
				{corev1.NodeMemoryPressure, "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", true},
				{corev1.NodeDiskPressure, "True", "KubeletHasDiskPressure", "kubelet has disk pressure", true},
				{corev1.NodePIDPressure, "False", "KubeletHasSufficientPID", "", false},
				{corev1.NodeReady, "False", "KubeletNotReady", "container runtime is down", true},
			},
			wantEvents: []string{"NodeHasInsufficientMemory", "NodeHasDiskPressure", "NodeNotReady"},
		},
		{
			name:     "PID pressure",
			old:      kubeletConditions(corev1.ConditionTrue, earlier),
			pressure: pressures{pid: true},
			want: []cond{
				{corev1.NodeMemoryPressure, "False", "KubeletHasSufficientMemory", "", false},
				{corev1.NodeDiskPressure, "False", "KubeletHasNoDiskPressure", "", false},
				{corev1.NodePIDPressure, "True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available", true},
				{corev1.NodeReady, "True", "KubeletReady", "kubelet is posting ready status", false},
			},
			wantEvents: []string{"NodeHasInsufficientPID"},
		},
		{
			name: "back from Unknown (node controller)",
			old:  unknown,
			want: []cond{
				{corev1.NodeMemoryPressure, "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", true},
				{corev1.NodeDiskPressure, "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", true},
				{corev1.NodePIDPressure, "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", true},
				{corev1.NodeReady, "True", "KubeletReady", "kubelet is posting ready status", true},
			},
			wantEvents: []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, nil, nil)
			old := &corev1.NodeStatus{Conditions: tc.old}
			o := &observation{now: now, host: testSample(), readyErr: tc.readyErr, pressure: tc.pressure}
			st, events := in.buildStatus(old, o)
			var got []cond
			for _, c := range st.Conditions {
				if !c.LastHeartbeatTime.Equal(&metav1.Time{Time: now}) && c.Type != corev1.NodeNetworkUnavailable {
					t.Errorf("%s heartbeat %v, want %v", c.Type, c.LastHeartbeatTime, now)
				}
				got = append(got, cond{c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime.Time.Equal(now)})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("conditions\n got %+v\nwant %+v", got, tc.want)
			}
			if !slices.Equal(events, tc.wantEvents) {
				t.Errorf("events %v, want %v", events, tc.wantEvents)
			}
			if old.Conditions != nil && &old.Conditions[0] == &st.Conditions[0] {
				t.Error("buildStatus changed the old status in place")
			}
		})
	}
}

// Without cpu, memory or pods capacity the node is not Ready.
func TestReadyNeedsCapacity(t *testing.T) {
	in := testInput(t, nil, nil)
	s := testSample()
	s.machine.memory, s.machine.cpus = 0, 0
	st, _ := in.buildStatus(&corev1.NodeStatus{}, &observation{now: time.Now(), host: s})
	c := st.Conditions[3]
	if c.Status != corev1.ConditionFalse || c.Message != "missing node capacity for resources: cpu, memory" {
		t.Errorf("Ready %s %q", c.Status, c.Message)
	}
}

func TestNodeInfoAndOtherFields(t *testing.T) {
	in := testInput(t, nil, nil)
	rt := &runtimeState{version: "containerd://1.6.20~ds1"}
	imgs := []corev1.ContainerImage{{Names: []string{"busybox"}, SizeBytes: 10}}
	old := &corev1.NodeStatus{
		NodeInfo:     corev1.NodeSystemInfo{ContainerRuntimeVersion: "old://1", KubeProxyVersion: "v1.20.0"},
		VolumesInUse: []corev1.UniqueVolumeName{"kubernetes.io/csi/x"},
		Images:       []corev1.ContainerImage{{Names: []string{"old"}}},
	}
	st, _ := in.buildStatus(old, &observation{now: time.Now(), host: testSample(), runtime: rt, images: imgs})
	want := corev1.NodeSystemInfo{
		MachineID: "mid", SystemUUID: "uuid", BootID: "boot", KernelVersion: "6.1.0",
		OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "containerd://1.6.20~ds1",
		KubeletVersion: "v1.33.0+berth", OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
	}
	got := st.NodeInfo
	if got.Swap == nil || got.Swap.Capacity == nil || *got.Swap.Capacity != 0 {
		t.Errorf("swap %+v, want capacity 0", got.Swap)
	}
	got.Swap = nil
	if got != want {
		t.Errorf("nodeInfo\n got %+v\nwant %+v", got, want)
	}
	if st.DaemonEndpoints.KubeletEndpoint.Port != 10250 || len(st.Addresses) != 2 || st.Addresses[0].Address != "192.0.2.2" {
		t.Errorf("daemonEndpoints %+v addresses %+v", st.DaemonEndpoints, st.Addresses)
	}
	if len(st.VolumesInUse) != 1 || len(st.Images) != 1 || st.Images[0].Names[0] != "busybox" {
		t.Errorf("volumesInUse %v images %v", st.VolumesInUse, st.Images)
	}
	// Runtime silent and images not listed: the old values stay.
	st, _ = in.buildStatus(old, &observation{now: time.Now(), host: testSample(), runtime: &runtimeState{}})
	if st.NodeInfo.ContainerRuntimeVersion != "old://1" || st.Images[0].Names[0] != "old" {
		t.Errorf("runtime version %q images %v, want the old ones", st.NodeInfo.ContainerRuntimeVersion, st.Images)
	}
}

func TestNodeImages(t *testing.T) {
	var list []*runtimeapi.Image
	for i := range 60 {
		list = append(list, &runtimeapi.Image{
			Id: fmt.Sprintf("sha256:%02d", i), Size_: uint64(1000 + i),
			RepoTags: []string{fmt.Sprintf("img%d:latest", i)}, RepoDigests: []string{fmt.Sprintf("img%d@sha256:%02d", i, i)},
		})
	}
	list = append(list,
		&runtimeapi.Image{Id: "sha256:many", Size_: 5000, RepoDigests: []string{"a@sha256:1", "b@sha256:2"},
			RepoTags: []string{"a:1", "a:2", "a:3", "a:4"}},
		&runtimeapi.Image{Id: "sha256:nameless", Size_: 9000},
	)
	got := nodeImages(list)
	if len(got) != maxImagesInStatus {
		t.Fatalf("%d images, want %d", len(got), maxImagesInStatus)
	}
	if want := []string{"a@sha256:1", "b@sha256:2", "a:1", "a:2", "a:3"}; !slices.Equal(got[0].Names, want) || got[0].SizeBytes != 5000 {
		t.Errorf("largest image %+v, want names %v (digests first, 5 at most)", got[0], want)
	}
	if want := []string{"img59@sha256:59", "img59:latest"}; !slices.Equal(got[1].Names, want) {
		t.Errorf("second image names %v, want %v", got[1].Names, want)
	}
	if last := got[len(got)-1]; last.SizeBytes != 1000+60-maxImagesInStatus+1 {
		t.Errorf("smallest listed image size %d, want %d", last.SizeBytes, 1000+60-maxImagesInStatus+1)
	}
}

func TestStatusChanged(t *testing.T) {
	base := corev1.NodeStatus{
		Capacity:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
		Conditions: kubeletConditions(corev1.ConditionTrue, time.Unix(100, 0)),
	}
	for _, tc := range []struct {
		name   string
		change func(*corev1.NodeStatus)
		want   bool
	}{
		{"same", func(*corev1.NodeStatus) {}, false},
		{"heartbeat only", func(s *corev1.NodeStatus) { s.Conditions[3].LastHeartbeatTime = metav1.NewTime(time.Unix(200, 0)) }, false},
		{"same quantity written differently", func(s *corev1.NodeStatus) {
			s.Capacity[corev1.ResourceMemory] = *resource.NewQuantity(4<<30, resource.DecimalSI)
		}, false},
		{"nil and empty images", func(s *corev1.NodeStatus) { s.Images = []corev1.ContainerImage{} }, false},
		{"message", func(s *corev1.NodeStatus) { s.Conditions[3].Message = "x" }, true},
		{"capacity", func(s *corev1.NodeStatus) { s.Capacity[corev1.ResourceMemory] = resource.MustParse("3Gi") }, true},
		{"images", func(s *corev1.NodeStatus) { s.Images = []corev1.ContainerImage{{Names: []string{"x"}}} }, true},
	} {
		want := base.DeepCopy()
		tc.change(want)
		if got := statusChanged(&base, want); got != tc.want {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.want)
		}
	}
}
