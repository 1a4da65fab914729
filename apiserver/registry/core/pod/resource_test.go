package pod

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptr[T any](v T) *T { return &v }

// newPod returns a valid, defaulted pod as the store would have it before
// PrepareForCreate.
func newPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}},
		},
	}
	for _, m := range mutate {
		m(pod)
	}
	Resource().Default(pod)
	return pod
}

func errorKeys(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return out
}

func TestResourceDescription(t *testing.T) {
	r := Resource()
	if r.Resource != "pods" || r.Kind != "Pod" || r.ListKind != "PodList" || r.Singular != "pod" || !r.Namespaced ||
		r.Version != "v1" || r.Group != "" {
		t.Errorf("names = %+v", r)
	}
	if len(r.ShortNames) != 1 || r.ShortNames[0] != "po" || len(r.Categories) != 1 || r.Categories[0] != "all" {
		t.Errorf("short names %v, categories %v", r.ShortNames, r.Categories)
	}
	if _, ok := r.New().(*corev1.Pod); !ok {
		t.Errorf("New() = %T", r.New())
	}
	if _, ok := r.NewList().(*corev1.PodList); !ok {
		t.Errorf("NewList() = %T", r.NewList())
	}
	if r.Status == nil || r.GracefulDelete == nil || r.Fields == nil || r.Cells == nil {
		t.Errorf("missing hooks")
	}
	if len(r.Columns) != len(r.Cells(newPod())) {
		t.Errorf("%d columns but %d cells", len(r.Columns), len(r.Cells(newPod())))
	}
}

func TestDefaultPod(t *testing.T) {
	pod := newPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	})
	if pod.Spec.EnableServiceLinks == nil || !*pod.Spec.EnableServiceLinks {
		t.Errorf("enableServiceLinks not defaulted")
	}
	if got := pod.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "1" {
		t.Errorf("cpu request = %s, want 1 (from limit)", got)
	}
}

func TestPrepareForCreateQOS(t *testing.T) {
	cpuMem := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	cases := []struct {
		name string
		res  []corev1.ResourceRequirements
		init *corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"no resources", []corev1.ResourceRequirements{{}}, nil, corev1.PodQOSBestEffort},
		{"only ephemeral-storage", []corev1.ResourceRequirements{{Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}}, nil, corev1.PodQOSBestEffort},
		{"requests only", []corev1.ResourceRequirements{{Requests: cpuMem("100m", "")}}, nil, corev1.PodQOSBurstable},
		{"limits only become requests", []corev1.ResourceRequirements{{Limits: cpuMem("1", "1Gi")}}, nil, corev1.PodQOSGuaranteed},
		{"equal requests and limits", []corev1.ResourceRequirements{{Requests: cpuMem("1", "1Gi"), Limits: cpuMem("1", "1Gi")}}, nil, corev1.PodQOSGuaranteed},
		{"request below limit", []corev1.ResourceRequirements{{Requests: cpuMem("500m", "1Gi"), Limits: cpuMem("1", "1Gi")}}, nil, corev1.PodQOSBurstable},
		{"cpu limit only", []corev1.ResourceRequirements{{Limits: cpuMem("1", "")}}, nil, corev1.PodQOSBurstable},
		{"one container without", []corev1.ResourceRequirements{{Limits: cpuMem("1", "1Gi")}, {}}, nil, corev1.PodQOSBurstable},
		{"init container counts", []corev1.ResourceRequirements{{Limits: cpuMem("1", "1Gi")}}, &corev1.ResourceRequirements{Requests: cpuMem("100m", "")}, corev1.PodQOSBurstable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod(func(p *corev1.Pod) {
				p.Spec.Containers = nil
				for i, r := range tc.res {
					p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: "x", Resources: r})
				}
				if tc.init != nil {
					p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "x", Resources: *tc.init}}
				}
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = "10.0.0.1"
			})
			Resource().PrepareForCreate(context.Background(), pod)
			if pod.Status.QOSClass != tc.want {
				t.Errorf("qosClass = %s, want %s", pod.Status.QOSClass, tc.want)
			}
			if pod.Status.Phase != corev1.PodPending || pod.Status.PodIP != "" {
				t.Errorf("status not reset: %+v", pod.Status)
			}
		})
	}
}

func TestPrepareForCreateMutations(t *testing.T) {
	pod := newPod(func(p *corev1.Pod) {
		p.Annotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "app": "localhost/my-profile"}
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}},
				TopologyKey:    "kubernetes.io/hostname",
				MatchLabelKeys: []string{"app", "missing"},
			}}}}
	})
	Resource().PrepareForCreate(context.Background(), pod)
	if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != "SchedulingGated" ||
		pod.Status.Conditions[0].Type != corev1.PodScheduled || pod.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("conditions = %+v", pod.Status.Conditions)
	}
	exprs := pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchExpressions
	if len(exprs) != 1 || exprs[0].Key != "app" || exprs[0].Operator != metav1.LabelSelectorOpIn || exprs[0].Values[0] != "web" {
		t.Errorf("merged match expressions = %+v", exprs)
	}
	sc := pod.Spec.Containers[0].SecurityContext
	if sc == nil || sc.AppArmorProfile == nil || sc.AppArmorProfile.Type != corev1.AppArmorProfileTypeLocalhost || *sc.AppArmorProfile.LocalhostProfile != "my-profile" {
		t.Errorf("apparmor field = %+v", sc)
	}
	if errs := Resource().Validate(context.Background(), pod); len(errs) != 0 {
		t.Errorf("prepared pod invalid: %v", errs)
	}
}

func TestValidateCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"missing image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"FieldValueRequired spec.containers[0].image"}},
		{"image with spaces", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []string{"FieldValueInvalid spec.containers[0].image"}},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "dbg", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}}}
		}, []string{"FieldValueForbidden spec.ephemeralContainers"}},
		{"nodeName with gates", func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
		}, []string{"FieldValueForbidden spec.nodeName"}},
		{"token without service account", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr(int32(0644)),
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Path: "token", ExpirationSeconds: ptr(int64(3600))}}}}}}}
		}, []string{"FieldValueForbidden spec.volumes[0].projected.sources[0].serviceAccountToken"}},
		{"hostNetwork port mismatch", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 81, Protocol: "TCP"}}
		}, []string{"FieldValueInvalid spec.containers[0].ports[0].hostPort"}},
		{"ephemeral volume claim name too long", func(p *corev1.Pod) {
			p.Name = strings.Repeat("a", 250)
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}}}}
		}, []string{"FieldValueInvalid spec.volumes[0].name"}},
		{"seccomp annotation mismatch", func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.SeccompPodAnnotationKey: "unconfined"}
			p.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		}, []string{"FieldValueForbidden spec.securityContext.seccompProfile.type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod()
			tc.mutate(pod)
			Resource().PrepareForCreate(context.Background(), pod)
			got := errorKeys(Resource().Validate(context.Background(), pod))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n  got  %q\n  want %q", got, tc.want)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	gated := func(p *corev1.Pod) {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/b"}}
		p.Spec.NodeSelector = map[string]string{"zone": "a"}
	}
	cases := []struct {
		name   string
		old    func(*corev1.Pod)
		update func(*corev1.Pod)
		want   []string
	}{
		{"no change", nil, func(*corev1.Pod) {}, nil},
		{"labels may change", nil, func(p *corev1.Pod) { p.Labels["x"] = "y" }, nil},
		{"image may change", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.26" }, nil},
		{"image may not be emptied", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]string{"FieldValueRequired spec.containers[0].image", "FieldValueRequired spec.containers[0].image"}},
		{"other field forbidden", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, []string{"FieldValueForbidden spec"}},
		{"adding a container forbidden", nil, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "x", ImagePullPolicy: "Always",
				TerminationMessagePolicy: "File", TerminationMessagePath: "/dev/termination-log"})
		}, []string{"FieldValueForbidden spec.containers"}},
		{"activeDeadlineSeconds set", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(30)) }, nil},
		{"activeDeadlineSeconds raised", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(30)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) }, []string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"activeDeadlineSeconds removed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(30)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, []string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"toleration added", nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: "Exists"})
		}, nil},
		{"toleration modified", func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Exists"}} },
			func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "other" }, []string{"FieldValueForbidden spec.tolerations"}},
		{"tolerationSeconds changed", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: ptr(int64(300))}}
		}, func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(10)) }, nil},
		{"negative grace set to 1", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-5)) },
			func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(1)) }, nil},
		{"grace changed", nil, func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(5)) }, []string{"FieldValueForbidden spec"}},
		{"scheduling gate removed", gated, func(p *corev1.Pod) { p.Spec.SchedulingGates = p.Spec.SchedulingGates[1:] }, nil},
		{"scheduling gate added", gated, func(p *corev1.Pod) {
			p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/c"})
		}, []string{"FieldValueForbidden spec.schedulingGates[2].name"}},
		{"gated pod gains node selector", gated, func(p *corev1.Pod) { p.Spec.NodeSelector["disk"] = "ssd" }, nil},
		{"gated pod changes node selector", gated, func(p *corev1.Pod) { p.Spec.NodeSelector["zone"] = "b" },
			[]string{"FieldValueInvalid spec.nodeSelector"}},
		{"ungated pod gains node selector", nil, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} },
			[]string{"FieldValueForbidden spec"}},
		{"mirror annotation added", nil, func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
			p.Spec.NodeName = "n"
		}, []string{"FieldValueForbidden metadata.annotations[kubernetes.io/config.mirror]", "FieldValueForbidden spec"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newPod()
			if tc.old != nil {
				tc.old(old)
			}
			Resource().PrepareForCreate(context.Background(), old)
			pod := old.DeepCopy()
			tc.update(pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodFailed}
			Resource().PrepareForUpdate(context.Background(), pod, old)
			if pod.Status.Phase != corev1.PodPending {
				t.Errorf("main update changed status to %q", pod.Status.Phase)
			}
			got := errorKeys(Resource().ValidateUpdate(context.Background(), pod, old))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n  got  %q\n  want %q", got, tc.want)
			}
		})
	}
}

func TestForbiddenUpdateMessage(t *testing.T) {
	old := newPod()
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Args = []string{"-v"}
	errs := Resource().ValidateUpdate(context.Background(), pod, old)
	if len(errs) != 1 {
		t.Fatalf("errors = %v", errs)
	}
	msg := errs[0].Error()
	prefix := "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`"
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("message %q does not start with %q", msg, prefix)
	}
	if !strings.Contains(msg, "Args") {
		t.Errorf("message has no diff hint naming the changed field: %q", msg)
	}
}

func TestStatusSubresource(t *testing.T) {
	old := newPod(func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u1"}}
		p.Spec.NodeName = "node-1"
	})
	Resource().PrepareForCreate(context.Background(), old)

	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "evil"
	pod.OwnerReferences = nil
	pod.Labels["changed"] = "yes"
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}}}
	Resource().Status.PrepareForUpdate(context.Background(), pod, old)
	if pod.Spec.Containers[0].Image != "nginx:1.25" || len(pod.OwnerReferences) != 1 {
		t.Errorf("status update changed spec or owners: %s %v", pod.Spec.Containers[0].Image, pod.OwnerReferences)
	}
	if pod.Labels["changed"] != "yes" {
		t.Errorf("status update may change labels")
	}
	if pod.Status.QOSClass != corev1.PodQOSBestEffort || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("status = %+v", pod.Status)
	}
	if errs := Resource().Status.ValidateUpdate(context.Background(), pod, old); len(errs) != 0 {
		t.Errorf("valid status update: %v", errs)
	}

	terminated := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	cases := []struct {
		name   string
		policy corev1.RestartPolicy
		old    corev1.PodStatus
		new    corev1.PodStatus
		want   []string
	}{
		{"qos changed", corev1.RestartPolicyAlways, corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort},
			corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed}, []string{"FieldValueInvalid status.qosClass"}},
		{"restart with Never", corev1.RestartPolicyNever,
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running}}},
			[]string{"FieldValueForbidden status.containerStatuses[0].state"}},
		{"restart with Always", corev1.RestartPolicyAlways,
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated}}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running}}}, nil},
		{"duplicate pod IPs", corev1.RestartPolicyAlways, corev1.PodStatus{},
			corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.1"}}},
			[]string{"FieldValueDuplicate status.podIPs[1]", "FieldValueInvalid status.podIPs"}},
		{"dual-stack pod IPs", corev1.RestartPolicyAlways, corev1.PodStatus{},
			corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}}, nil},
		{"hostIP mismatch", corev1.RestartPolicyAlways, corev1.PodStatus{},
			corev1.PodStatus{HostIP: "10.0.0.2", HostIPs: []corev1.HostIP{{IP: "10.0.0.3"}}}, []string{"FieldValueInvalid status.hostIPs[0].ip"}},
		{"bad condition type", corev1.RestartPolicyAlways, corev1.PodStatus{},
			corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: "bad type", Status: corev1.ConditionTrue}}},
			[]string{"FieldValueInvalid metadata.conditions[0].Type"}},
		{"bad nominated node", corev1.RestartPolicyAlways, corev1.PodStatus{},
			corev1.PodStatus{NominatedNodeName: "Node_1"}, []string{"FieldValueInvalid status.nominatedNodeName"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = tc.policy })
			o.Status = tc.old
			n := o.DeepCopy()
			n.Status = tc.new
			got := errorKeys(Resource().Status.ValidateUpdate(context.Background(), n, o))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n  got  %q\n  want %q", got, tc.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	pod := newPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Spec.ServiceAccountName = "sa"
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.0.0.7"}, {IP: "fd00::7"}}, NominatedNodeName: "node-2"}
	})
	got := Resource().Fields(pod)
	want := fields.Set{
		"spec.nodeName": "node-1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "sa", "spec.hostNetwork": "false", "status.phase": "Running",
		"status.podIP": "10.0.0.7", "status.nominatedNodeName": "node-2",
	}
	if got.String() != want.String() {
		t.Errorf("fields = %v, want %v", got, want)
	}
	if !fields.ParseSelectorOrDie("spec.nodeName=node-1,status.phase!=Pending").Matches(got) {
		t.Errorf("selector does not match")
	}
}

func TestGracefulDelete(t *testing.T) {
	cases := []struct {
		name      string
		nodeName  string
		phase     corev1.PodPhase
		podGrace  *int64
		optsGrace *int64
		want      int64
		graceful  bool
	}{
		{"scheduled uses pod grace", "n", corev1.PodRunning, ptr(int64(30)), nil, 30, true},
		{"request grace wins", "n", corev1.PodRunning, ptr(int64(30)), ptr(int64(5)), 5, true},
		{"zero grace deletes at once", "n", corev1.PodRunning, ptr(int64(30)), ptr(int64(0)), 0, false},
		{"unscheduled deletes at once", "", corev1.PodPending, ptr(int64(30)), ptr(int64(10)), 0, false},
		{"succeeded deletes at once", "n", corev1.PodSucceeded, ptr(int64(30)), nil, 0, false},
		{"failed deletes at once", "n", corev1.PodFailed, ptr(int64(30)), ptr(int64(10)), 0, false},
		{"negative becomes 1", "n", corev1.PodRunning, ptr(int64(30)), ptr(int64(-3)), 1, true},
		{"negative pod grace becomes 1", "n", corev1.PodRunning, ptr(int64(-1)), nil, 1, true},
		{"no pod grace means 0", "n", corev1.PodRunning, nil, nil, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{NodeName: tc.nodeName, TerminationGracePeriodSeconds: tc.podGrace},
				Status: corev1.PodStatus{Phase: tc.phase}}
			opts := &metav1.DeleteOptions{GracePeriodSeconds: tc.optsGrace}
			graceful := Resource().GracefulDelete(pod, opts)
			if graceful != tc.graceful || opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != tc.want {
				t.Errorf("graceful = %v, grace = %v; want %v, %d", graceful, opts.GracePeriodSeconds, tc.graceful, tc.want)
			}
		})
	}
	if Resource().GracefulDelete(&corev1.Pod{}, nil) {
		t.Errorf("nil options must not be graceful")
	}
}

func TestTimestampsInCells(t *testing.T) {
	pod := newPod()
	pod.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 2,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(time.Now().Add(-5 * time.Minute))}}}}
	c := cells(pod)
	if c[3] != "2 (5m ago)" || c[4] != "90s" {
		t.Errorf("restarts %q age %q", c[3], c[4])
	}
}
