package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fullPod is a pod with one of everything that has defaults, none set.
func fullPod() *corev1.Pod {
	limits := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("500m"),
		corev1.ResourceMemory: resource.MustParse("128Mi"),
	}
	return &corev1.Pod{
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36", Resources: corev1.ResourceRequirements{Limits: limits.DeepCopy()}}},
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				Env: []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				Resources: corev1.ResourceRequirements{
					Limits:   limits.DeepCopy(),
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					GRPC: &corev1.GRPCAction{Port: 9090}}},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
					HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
			}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox"}}},
			Volumes: []corev1.Volume{
				{Name: "none"},
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}},
				{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
				{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
					VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}},
				{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "tools:v1"}}},
			},
		},
	}
}

func TestPodDefaults(t *testing.T) {
	pod := fullPod()
	Pod(pod)
	s := &pod.Spec
	c := &s.Containers[0]
	vol := func(i int) *corev1.VolumeSource { return &s.Volumes[i].VolumeSource }
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"schedulerName", s.SchedulerName, "default-scheduler"},
		{"securityContext", *s.SecurityContext, corev1.PodSecurityContext{}},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"imagePullPolicy untagged", c.ImagePullPolicy, corev1.PullAlways},
		{"imagePullPolicy tagged init", s.InitContainers[0].ImagePullPolicy, corev1.PullIfNotPresent},
		{"ephemeral imagePullPolicy", s.EphemeralContainers[0].ImagePullPolicy, corev1.PullAlways},
		{"ephemeral terminationMessagePolicy", s.EphemeralContainers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP},
		{"fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"probe timeoutSeconds", c.LivenessProbe.TimeoutSeconds, int32(1)},
		{"probe periodSeconds", c.LivenessProbe.PeriodSeconds, int32(10)},
		{"probe successThreshold", c.LivenessProbe.SuccessThreshold, int32(1)},
		{"probe failureThreshold", c.LivenessProbe.FailureThreshold, int32(3)},
		{"httpGet path", c.LivenessProbe.HTTPGet.Path, "/"},
		{"httpGet scheme", c.LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"grpc service", *c.ReadinessProbe.GRPC.Service, ""},
		{"preStop httpGet scheme", c.Lifecycle.PreStop.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"request kept", c.Resources.Requests.Cpu().String(), "100m"},
		{"request from limit", c.Resources.Requests.Memory().String(), "128Mi"},
		{"init request from limit", s.InitContainers[0].Resources.Requests.Cpu().String(), "500m"},
		{"empty volume is emptyDir", vol(0).EmptyDir != nil, true},
		{"configMap defaultMode", *vol(1).ConfigMap.DefaultMode, int32(0644)},
		{"secret defaultMode", *vol(2).Secret.DefaultMode, int32(0644)},
		{"hostPath type", *vol(3).HostPath.Type, corev1.HostPathUnset},
		{"downwardAPI defaultMode", *vol(4).DownwardAPI.DefaultMode, int32(0644)},
		{"downwardAPI fieldRef apiVersion", vol(4).DownwardAPI.Items[0].FieldRef.APIVersion, "v1"},
		{"projected defaultMode", *vol(5).Projected.DefaultMode, int32(0644)},
		{"token expirationSeconds", *vol(5).Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, int64(3600)},
		{"image volume pullPolicy", vol(7).Image.PullPolicy, corev1.PullIfNotPresent},
		{"ephemeral claim volumeMode", *vol(6).Ephemeral.VolumeClaimTemplate.Spec.VolumeMode, corev1.PersistentVolumeFilesystem},
	}
	for _, tc := range checks {
		if !equality.Semantic.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
}

func TestDefaultsAreIdempotent(t *testing.T) {
	once := fullPod()
	Pod(once)
	twice := once.DeepCopy()
	Pod(twice)
	if !equality.Semantic.DeepEqual(once, twice) {
		t.Errorf("second defaulting changed the pod:\n%#v\n%#v", once, twice)
	}
	tmpl := &corev1.PodTemplateSpec{Spec: fullPod().Spec}
	PodTemplateSpec(tmpl)
	again := tmpl.DeepCopy()
	PodTemplateSpec(again)
	if !equality.Semantic.DeepEqual(tmpl, again) {
		t.Errorf("second template defaulting changed the template")
	}
}

func TestUserValuesKept(t *testing.T) {
	grace := int64(5)
	mode := int32(0400)
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		DNSPolicy:                     corev1.DNSDefault,
		TerminationGracePeriodSeconds: &grace,
		SchedulerName:                 "mine",
		Containers: []corev1.Container{{Name: "a", Image: "nginx", ImagePullPolicy: corev1.PullNever,
			Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
		Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: &mode}}}},
	}}
	Pod(pod)
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Spec.DNSPolicy != corev1.DNSDefault ||
		*pod.Spec.TerminationGracePeriodSeconds != 5 || pod.Spec.SchedulerName != "mine" {
		t.Errorf("pod-level values overwritten: %+v", pod.Spec)
	}
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullNever || c.Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("container values overwritten: %+v", c)
	}
	if *pod.Spec.Volumes[0].Secret.DefaultMode != 0400 {
		t.Errorf("defaultMode overwritten: %o", *pod.Spec.Volumes[0].Secret.DefaultMode)
	}
}

func TestTemplateGetsNoPodOnlyDefaults(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers: []corev1.Container{{Name: "a", Image: "nginx",
			Ports:     []corev1.ContainerPort{{ContainerPort: 80}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
	}}
	PodTemplateSpec(tmpl)
	s := tmpl.Spec
	if s.EnableServiceLinks != nil {
		t.Errorf("template enableServiceLinks = %v, want unset", *s.EnableServiceLinks)
	}
	if s.Containers[0].Resources.Requests != nil {
		t.Errorf("template requests = %v, want unset", s.Containers[0].Resources.Requests)
	}
	if s.Containers[0].Ports[0].HostPort != 0 {
		t.Errorf("template hostPort = %d, want 0", s.Containers[0].Ports[0].HostPort)
	}
	if s.RestartPolicy != corev1.RestartPolicyAlways || s.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("template spec defaults missing: %+v", s)
	}
}

func TestHostNetworkPorts(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "a", Image: "x",
		Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 443, HostPort: 8443}}}}}}
	Pod(pod)
	ports := pod.Spec.Containers[0].Ports
	if ports[0].HostPort != 80 || ports[1].HostPort != 8443 {
		t.Errorf("host ports = %d, %d; want 80, 8443", ports[0].HostPort, ports[1].HostPort)
	}
}

func TestResourceListRoundsToMilli(t *testing.T) {
	list := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("0.0001"),
		corev1.ResourceMemory: resource.MustParse("1.5Gi"),
	}
	ResourceList(list)
	if got := list.Cpu().String(); got != "1m" {
		t.Errorf("cpu = %s, want 1m", got)
	}
	if got := list.Memory().String(); got != "1536Mi" {
		t.Errorf("memory = %s, want 1536Mi", got)
	}
}

func TestPullPolicy(t *testing.T) {
	digest := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.25", corev1.PullIfNotPresent},
		{"library/nginx:1.25-alpine", corev1.PullIfNotPresent},
		{"nginx@" + digest, corev1.PullIfNotPresent},
		{"nginx:latest@" + digest, corev1.PullAlways},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"registry.example.com/team/app:latest", corev1.PullAlways},
		{"Registry.Example.com/team/app", corev1.PullAlways},
		{"Nginx", corev1.PullIfNotPresent},
		{"nginx:", corev1.PullIfNotPresent},
		{"", corev1.PullIfNotPresent},
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
	}
	for _, tc := range cases {
		if got := PullPolicy(tc.image); got != tc.want {
			t.Errorf("PullPolicy(%q) = %s, want %s", tc.image, got, tc.want)
		}
	}
}

func TestLegacyVolumeDefaults(t *testing.T) {
	spec := &corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "r", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{}}},
		{Name: "i", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}}},
		{Name: "a", VolumeSource: corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{}}},
	}}
	PodSpec(spec)
	if r := spec.Volumes[0].RBD; r.RBDPool != "rbd" || r.RadosUser != "admin" || r.Keyring != "/etc/ceph/keyring" {
		t.Errorf("rbd defaults = %+v", r)
	}
	if spec.Volumes[1].ISCSI.ISCSIInterface != "default" {
		t.Errorf("iscsiInterface = %q", spec.Volumes[1].ISCSI.ISCSIInterface)
	}
	if a := spec.Volumes[2].AzureDisk; *a.CachingMode != corev1.AzureDataDiskCachingReadWrite || *a.FSType != "ext4" || *a.Kind != corev1.AzureSharedBlobDisk {
		t.Errorf("azureDisk defaults = %+v", a)
	}
}
