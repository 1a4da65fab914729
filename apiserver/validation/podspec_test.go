package validation

import (
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/defaults"
)

// validSpec is a defaulted pod spec using most features, all valid.
func validSpec() *corev1.PodSpec {
	grace := int64(30)
	deadline := int64(600)
	runAs := int64(1000)
	minDomains := int32(2)
	spec := &corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		ActiveDeadlineSeconds:         &deadline,
		ServiceAccountName:            "builder",
		Hostname:                      "web-0",
		Subdomain:                     "web",
		NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
		PriorityClassName:             "high",
		SecurityContext:               &corev1.PodSecurityContext{RunAsUser: &runAs, Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}}},
		ImagePullSecrets:              []corev1.LocalObjectReference{{Name: "regcred"}},
		DNSConfig:                     &corev1.PodDNSConfig{Nameservers: []string{"10.0.0.10"}, Searches: []string{"svc.cluster.local"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots"}}},
		HostAliases:                   []corev1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo.local"}}},
		Tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
			{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
		},
		Affinity: &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}}}}},
			PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					TopologyKey:   "kubernetes.io/hostname"}}}},
		},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule, MinDomains: &minDomains,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
		ReadinessGates:  []corev1.PodReadinessGate{{ConditionType: "example.com/ready"}},
		SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/wait"}},
		Volumes: []corev1.Volume{
			{Name: "data"},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items:                []corev1.KeyToPath{{Key: "a", Path: "conf/a.yaml"}}}}},
			{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}}}},
			}}}},
			{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pvc"}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}}},
		},
		InitContainers: []corev1.Container{
			{Name: "setup", Image: "busybox:1.36", Command: []string{"sh", "-c", "true"}},
			{Name: "proxy", Image: "envoy:1.30", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9901)}}}},
		},
		Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.example.com/app:1.0",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090, HostPort: 9090}},
			Env: []corev1.EnvVar{
				{Name: "MODE", Value: "prod"},
				{Name: "my.dotted-name", Value: "ok"},
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "APP_LABEL", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
			},
			EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"), "example.com/gpu": resource.MustParse("1")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi"), "example.com/gpu": resource.MustParse("1")},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "data", MountPath: "/data"},
				{Name: "config", MountPath: "/etc/app", ReadOnly: true, SubPath: "conf"},
				{Name: "token", MountPath: "/var/run/secrets/tokens", ReadOnly: true, RecursiveReadOnly: ptr(corev1.RecursiveReadOnlyIfPossible)},
				{Name: "claim", MountPath: "/claim"},
				{Name: "scratch", MountPath: "/scratch"},
			},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, InitialDelaySeconds: 5},
			StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, FailureThreshold: 30},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
			ResizePolicy:   []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired}},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				AppArmorProfile:          &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr("k8s-default")},
			},
		}},
		OS: &corev1.PodOS{Name: corev1.Linux},
	}
	defaults.PodSpec(spec)
	return spec
}

func ptr[T any](v T) *T { return &v }

// errorKeys renders errors as "Type field" for comparison.
func errorKeys(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return out
}

func TestValidSpecHasNoErrors(t *testing.T) {
	meta := &metav1.ObjectMeta{Name: "web-0", Namespace: "default"}
	if errs := ValidatePodSpec(validSpec(), meta, field.NewPath("spec")); len(errs) != 0 {
		t.Fatalf("valid pod spec: %v", errs)
	}
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "x"}},
		Spec:       *validSpec(),
	}
	if errs := ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")); len(errs) != 0 {
		t.Fatalf("valid template: %v", errs)
	}
}

func TestPodSpecErrors(t *testing.T) {
	c0 := func(s *corev1.PodSpec) *corev1.Container { return &s.Containers[0] }
	cases := []struct {
		name   string
		mutate func(s *corev1.PodSpec)
		want   []string
	}{
		{"no containers", func(s *corev1.PodSpec) { s.Containers = nil }, []string{"FieldValueRequired spec.containers"}},
		{"missing image", func(s *corev1.PodSpec) { c0(s).Image = "" }, []string{"FieldValueRequired spec.containers[0].image"}},
		{"missing container name", func(s *corev1.PodSpec) { c0(s).Name = "" }, []string{"FieldValueRequired spec.containers[0].name"}},
		{"bad container name", func(s *corev1.PodSpec) { c0(s).Name = "App_1" }, []string{"FieldValueInvalid spec.containers[0].name"}},
		{"duplicate container names", func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "app", Image: "x", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"})
		}, []string{"FieldValueDuplicate spec.containers[1].name"}},
		{"init name clashes with container", func(s *corev1.PodSpec) { s.InitContainers[0].Name = "app" }, []string{"FieldValueDuplicate spec.initContainers[0].name"}},
		{"port zero", func(s *corev1.PodSpec) { c0(s).Ports[0].ContainerPort = 0 }, []string{"FieldValueRequired spec.containers[0].ports[0].containerPort"}},
		{"port too big", func(s *corev1.PodSpec) { c0(s).Ports[0].ContainerPort = 70000 }, []string{"FieldValueInvalid spec.containers[0].ports[0].containerPort"}},
		{"bad host port", func(s *corev1.PodSpec) { c0(s).Ports[1].HostPort = -1 }, []string{"FieldValueInvalid spec.containers[0].ports[1].hostPort"}},
		{"bad protocol", func(s *corev1.PodSpec) { c0(s).Ports[0].Protocol = "ICMP" }, []string{"FieldValueNotSupported spec.containers[0].ports[0].protocol"}},
		{"duplicate port name", func(s *corev1.PodSpec) { c0(s).Ports[1].Name = "http" }, []string{"FieldValueDuplicate spec.containers[0].ports[1].name"}},
		{"host port conflict", func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "side", Image: "x", ImagePullPolicy: "Always", TerminationMessagePolicy: "File",
				Ports: []corev1.ContainerPort{{ContainerPort: 9090, HostPort: 9090, Protocol: "TCP"}}})
		}, []string{"FieldValueDuplicate spec.containers[1].ports[0].hostPort"}},
		{"env name with equals", func(s *corev1.PodSpec) { c0(s).Env[0].Name = "A=B" }, []string{"FieldValueInvalid spec.containers[0].env[0].name"}},
		{"env name empty", func(s *corev1.PodSpec) { c0(s).Env[0].Name = "" }, []string{"FieldValueRequired spec.containers[0].env[0].name"}},
		{"env value and valueFrom", func(s *corev1.PodSpec) { c0(s).Env[2].Value = "x" }, []string{"FieldValueInvalid spec.containers[0].env[2].valueFrom"}},
		{"env bad fieldPath", func(s *corev1.PodSpec) { c0(s).Env[2].ValueFrom.FieldRef.FieldPath = "metadata.labels" },
			[]string{"FieldValueNotSupported spec.containers[0].env[2].valueFrom.fieldRef.fieldPath"}},
		{"env unknown fieldPath", func(s *corev1.PodSpec) { c0(s).Env[2].ValueFrom.FieldRef.FieldPath = "spec.foo" },
			[]string{"FieldValueInvalid spec.containers[0].env[2].valueFrom.fieldRef.fieldPath"}},
		{"env secret without key", func(s *corev1.PodSpec) { c0(s).Env[5].ValueFrom.SecretKeyRef.Key = "" },
			[]string{"FieldValueRequired spec.containers[0].env[5].valueFrom.secretKeyRef.key"}},
		{"env bad divisor", func(s *corev1.PodSpec) { c0(s).Env[4].ValueFrom.ResourceFieldRef.Divisor = resource.MustParse("3") },
			[]string{"FieldValueInvalid spec.containers[0].env[4].valueFrom.resourceFieldRef.divisor"}},
		{"envFrom without source", func(s *corev1.PodSpec) { c0(s).EnvFrom[0].ConfigMapRef = nil }, []string{"FieldValueInvalid spec.containers[0].envFrom"}},
		{"negative request", func(s *corev1.PodSpec) { c0(s).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("-1") },
			[]string{"FieldValueInvalid spec.containers[0].resources.requests[memory]"}},
		{"limit below request", func(s *corev1.PodSpec) { c0(s).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2") },
			[]string{"FieldValueInvalid spec.containers[0].resources.requests"}},
		{"unknown resource", func(s *corev1.PodSpec) { c0(s).Resources.Limits["cpus"] = resource.MustParse("1") },
			[]string{"FieldValueInvalid spec.containers[0].resources.limits[cpus]", "FieldValueInvalid spec.containers[0].resources.limits[cpus]"}},
		{"extended resource fractional", func(s *corev1.PodSpec) {
			c0(s).Resources.Limits["example.com/gpu"] = resource.MustParse("500m")
			c0(s).Resources.Requests["example.com/gpu"] = resource.MustParse("500m")
		}, []string{"FieldValueInvalid spec.containers[0].resources.limits[example.com/gpu]", "FieldValueInvalid spec.containers[0].resources.requests[example.com/gpu]"}},
		{"extended resource request without limit", func(s *corev1.PodSpec) { delete(c0(s).Resources.Limits, "example.com/gpu") },
			[]string{"FieldValueRequired spec.containers[0].resources.limits"}},
		{"hugepages without cpu or memory", func(s *corev1.PodSpec) {
			c0(s).Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi")}}
		}, []string{"FieldValueForbidden spec.containers[0].resources"}},
		{"mount of unknown volume", func(s *corev1.PodSpec) { c0(s).VolumeMounts[0].Name = "nope" }, []string{"FieldValueNotFound spec.containers[0].volumeMounts[0].name"}},
		{"duplicate mount path", func(s *corev1.PodSpec) { c0(s).VolumeMounts[1].MountPath = "/data" }, []string{"FieldValueInvalid spec.containers[0].volumeMounts[1].mountPath"}},
		{"mount path missing", func(s *corev1.PodSpec) { c0(s).VolumeMounts[0].MountPath = "" }, []string{"FieldValueRequired spec.containers[0].volumeMounts[0].mountPath"}},
		{"subPath with backsteps", func(s *corev1.PodSpec) { c0(s).VolumeMounts[1].SubPath = "../etc" }, []string{"FieldValueInvalid spec.containers[0].volumeMounts.subPath"}},
		{"bidirectional unprivileged", func(s *corev1.PodSpec) {
			c0(s).VolumeMounts[0].MountPropagation = ptr(corev1.MountPropagationBidirectional)
		},
			[]string{"FieldValueForbidden spec.containers[0].volumeMounts.mountPropagation"}},
		{"recursiveReadOnly without readOnly", func(s *corev1.PodSpec) { c0(s).VolumeMounts[2].ReadOnly = false },
			[]string{"FieldValueForbidden spec.containers[0].volumeMounts.recursiveReadOnly"}},
		{"duplicate volume", func(s *corev1.PodSpec) { s.Volumes[1].Name = "data" },
			[]string{"FieldValueDuplicate spec.volumes[1].name", "FieldValueNotFound spec.containers[0].volumeMounts[1].name"}},
		{"bad volume name", func(s *corev1.PodSpec) { s.Volumes[0].Name = "Data"; c0(s).VolumeMounts[0].Name = "Data" },
			[]string{"FieldValueInvalid spec.volumes[0].name", "FieldValueNotFound spec.containers[0].volumeMounts[0].name"}},
		{"two volume sources", func(s *corev1.PodSpec) { s.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/x"} },
			[]string{"FieldValueForbidden spec.volumes[0].hostPath", "FieldValueNotFound spec.containers[0].volumeMounts[0].name"}},
		{"configMap without name", func(s *corev1.PodSpec) { s.Volumes[1].ConfigMap.Name = "" },
			[]string{"FieldValueRequired spec.volumes[1].configMap.name", "FieldValueNotFound spec.containers[0].volumeMounts[1].name"}},
		{"bad defaultMode", func(s *corev1.PodSpec) { s.Volumes[1].ConfigMap.DefaultMode = ptr(int32(01000)) },
			[]string{"FieldValueInvalid spec.volumes[1].configMap.defaultMode", "FieldValueNotFound spec.containers[0].volumeMounts[1].name"}},
		{"absolute item path", func(s *corev1.PodSpec) { s.Volumes[1].ConfigMap.Items[0].Path = "/etc/a" },
			[]string{"FieldValueInvalid spec.volumes[1].configMap.items[0].path", "FieldValueNotFound spec.containers[0].volumeMounts[1].name"}},
		{"short token expiry", func(s *corev1.PodSpec) {
			s.Volumes[2].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds = ptr(int64(60))
		}, []string{"FieldValueInvalid spec.volumes[2].projected.sources[0].serviceAccountToken.expirationSeconds", "FieldValueNotFound spec.containers[0].volumeMounts[2].name"}},
		{"ephemeral claim without storage", func(s *corev1.PodSpec) {
			s.Volumes[4].Ephemeral.VolumeClaimTemplate.Spec.Resources.Requests = nil
		}, []string{"FieldValueRequired spec.volumes[4].ephemeral.volumeClaimTemplate.spec.resources[storage]", "FieldValueNotFound spec.containers[0].volumeMounts[4].name"}},
		{"bad restartPolicy", func(s *corev1.PodSpec) { s.RestartPolicy = "Sometimes" }, []string{"FieldValueNotSupported spec.restartPolicy"}},
		{"bad dnsPolicy", func(s *corev1.PodSpec) { s.DNSPolicy = "Cluster" }, []string{"FieldValueNotSupported spec.dnsPolicy"}},
		{"dnsPolicy None without config", func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSNone; s.DNSConfig = nil }, []string{"FieldValueRequired spec.dnsConfig"}},
		{"bad nameserver", func(s *corev1.PodSpec) { s.DNSConfig.Nameservers[0] = "10.0.0" }, []string{"FieldValueInvalid spec.dnsConfig.nameservers[0]"}},
		{"bad imagePullPolicy", func(s *corev1.PodSpec) { c0(s).ImagePullPolicy = "Sometimes" }, []string{"FieldValueNotSupported spec.containers[0].imagePullPolicy"}},
		{"bad terminationMessagePolicy", func(s *corev1.PodSpec) { c0(s).TerminationMessagePolicy = "Logs" },
			[]string{"FieldValueNotSupported spec.containers[0].terminationMessagePolicy"}},
		{"missing terminationGracePeriodSeconds", func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = nil },
			[]string{"FieldValueRequired spec.terminationGracePeriodSeconds"}},
		{"sleep longer than grace", func(s *corev1.PodSpec) { c0(s).Lifecycle.PreStop.Sleep.Seconds = 60 },
			[]string{"FieldValueInvalid spec.containers[0].lifecycle.preStop.sleep"}},
		{"negative probe delay", func(s *corev1.PodSpec) { c0(s).ReadinessProbe.InitialDelaySeconds = -1 },
			[]string{"FieldValueInvalid spec.containers[0].readinessProbe.initialDelaySeconds"}},
		{"liveness successThreshold", func(s *corev1.PodSpec) { c0(s).LivenessProbe.SuccessThreshold = 2 },
			[]string{"FieldValueInvalid spec.containers[0].livenessProbe.successThreshold"}},
		{"probe with two handlers", func(s *corev1.PodSpec) { c0(s).LivenessProbe.Exec = &corev1.ExecAction{Command: []string{"x"}} },
			[]string{"FieldValueForbidden spec.containers[0].livenessProbe.httpGet"}},
		{"probe without handler", func(s *corev1.PodSpec) { c0(s).ReadinessProbe.Exec = nil },
			[]string{"FieldValueRequired spec.containers[0].readinessProbe"}},
		{"probe bad named port", func(s *corev1.PodSpec) { c0(s).LivenessProbe.HTTPGet.Port = intstr.FromString("not_valid") },
			[]string{"FieldValueInvalid spec.containers[0].livenessProbe.httpGet.port"}},
		{"readiness probe grace", func(s *corev1.PodSpec) { c0(s).ReadinessProbe.TerminationGracePeriodSeconds = ptr(int64(5)) },
			[]string{"FieldValueInvalid spec.containers[0].readinessProbe.terminationGracePeriodSeconds"}},
		{"probe on plain init container", func(s *corev1.PodSpec) { s.InitContainers[0].LivenessProbe = c0(s).LivenessProbe },
			[]string{"FieldValueForbidden spec.initContainers[0].livenessProbe"}},
		{"restartPolicy on regular container", func(s *corev1.PodSpec) { c0(s).RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways) },
			[]string{"FieldValueForbidden spec.containers[0].restartPolicy"}},
		{"init restartPolicy Never", func(s *corev1.PodSpec) {
			s.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicy("Never"))
		},
			[]string{"FieldValueNotSupported spec.initContainers[0].restartPolicy"}},
		{"bad hostname", func(s *corev1.PodSpec) { s.Hostname = "web.0" }, []string{"FieldValueInvalid spec.hostname"}},
		{"bad nodeName", func(s *corev1.PodSpec) { s.NodeName = "Node_1" }, []string{"FieldValueInvalid spec.nodeName"}},
		{"bad serviceAccountName", func(s *corev1.PodSpec) { s.ServiceAccountName = "Builder" }, []string{"FieldValueInvalid spec.serviceAccountName"}},
		{"zero activeDeadlineSeconds", func(s *corev1.PodSpec) { s.ActiveDeadlineSeconds = ptr(int64(0)) }, []string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"bad nodeSelector", func(s *corev1.PodSpec) { s.NodeSelector["bad key!"] = "x" }, []string{"FieldValueInvalid spec.nodeSelector"}},
		{"toleration Exists with value", func(s *corev1.PodSpec) { s.Tolerations[0].Value = "x" }, []string{"FieldValueInvalid spec.tolerations[0].operator"}},
		{"toleration seconds without NoExecute", func(s *corev1.PodSpec) { s.Tolerations[1].TolerationSeconds = ptr(int64(10)) },
			[]string{"FieldValueInvalid spec.tolerations[1].effect"}},
		{"toleration bad effect", func(s *corev1.PodSpec) { s.Tolerations[1].Effect = "NoRun" }, []string{"FieldValueNotSupported spec.tolerations[1].effect"}},
		{"toleration empty key Equal", func(s *corev1.PodSpec) { s.Tolerations[1].Key = "" }, []string{"FieldValueInvalid spec.tolerations[1].operator"}},
		{"node affinity without values", func(s *corev1.PodSpec) {
			s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values = nil
		}, []string{"FieldValueRequired spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"}},
		{"node affinity no terms", func(s *corev1.PodSpec) {
			s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = nil
		}, []string{"FieldValueRequired spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"}},
		{"anti-affinity weight", func(s *corev1.PodSpec) {
			s.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 0
		},
			[]string{"FieldValueInvalid spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"}},
		{"anti-affinity no topologyKey", func(s *corev1.PodSpec) {
			s.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey = ""
		}, []string{"FieldValueRequired spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey",
			"FieldValueInvalid spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey",
			"FieldValueInvalid spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey"}},
		{"spread maxSkew", func(s *corev1.PodSpec) { s.TopologySpreadConstraints[0].MaxSkew = 0 }, []string{"FieldValueInvalid spec.topologySpreadConstraints[0].maxSkew"}},
		{"spread whenUnsatisfiable", func(s *corev1.PodSpec) { s.TopologySpreadConstraints[0].WhenUnsatisfiable = "Maybe" },
			[]string{"FieldValueNotSupported spec.topologySpreadConstraints[0].whenUnsatisfiable", "FieldValueInvalid spec.topologySpreadConstraints[0].minDomains"}},
		{"spread duplicate", func(s *corev1.PodSpec) {
			s.TopologySpreadConstraints = append(s.TopologySpreadConstraints, s.TopologySpreadConstraints[0])
		}, []string{"FieldValueDuplicate spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}"}},
		{"duplicate scheduling gate", func(s *corev1.PodSpec) { s.SchedulingGates = append(s.SchedulingGates, s.SchedulingGates[0]) },
			[]string{"FieldValueDuplicate spec.schedulingGates[1]"}},
		{"bad readiness gate", func(s *corev1.PodSpec) { s.ReadinessGates[0].ConditionType = "bad gate" },
			[]string{"FieldValueInvalid spec.readinessGates[0].conditionType"}},
		{"negative runAsUser", func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = ptr(int64(-1)) },
			[]string{"FieldValueInvalid spec.securityContext.runAsUser"}},
		{"net sysctl with hostNetwork", func(s *corev1.PodSpec) {
			s.HostNetwork = true
			c0(s).Ports[0].HostPort = 8080
			c0(s).Ports[1].HostPort = 9090
		}, []string{"FieldValueInvalid spec.securityContext.sysctls[0].name"}},
		{"hostNetwork with other hostPort", func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = nil
			s.HostNetwork = true
			c0(s).Ports[0].HostPort = 8080
			c0(s).Ports[1].HostPort = 9091
		}, []string{"FieldValueInvalid spec.containers[0].ports[1].hostPort"}},
		{"privileged with no escalation", func(s *corev1.PodSpec) { c0(s).SecurityContext.Privileged = ptr(true) },
			[]string{"FieldValueInvalid spec.containers[0].securityContext"}},
		{"seccomp localhost without profile", func(s *corev1.PodSpec) {
			c0(s).SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeLocalhost
		},
			[]string{"FieldValueRequired spec.containers[0].securityContext.seccompProfile.localhostProfile"}},
		{"windows options on linux pod", func(s *corev1.PodSpec) {
			c0(s).SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("user")}
		}, []string{"FieldValueForbidden spec.containers[0].securityContext.windowsOptions"}},
		{"bad os", func(s *corev1.PodSpec) { s.OS.Name = "plan9" }, []string{"FieldValueNotSupported spec.os"}},
		{"bad preemptionPolicy", func(s *corev1.PodSpec) { s.PreemptionPolicy = ptr(corev1.PreemptionPolicy("Always")) },
			[]string{"FieldValueNotSupported spec.preemptionPolicy"}},
		{"empty pull secret name accepted", func(s *corev1.PodSpec) { s.ImagePullSecrets = []corev1.LocalObjectReference{{}} }, nil},
		{"bad hostAlias ip", func(s *corev1.PodSpec) { s.HostAliases[0].IP = "nope" }, []string{"FieldValueInvalid spec.hostAliases[0].ip"}},
		{"resize policy Never pod", func(s *corev1.PodSpec) {
			s.RestartPolicy = corev1.RestartPolicyNever
			c0(s).ResizePolicy[0].RestartPolicy = corev1.RestartContainer
		}, []string{"FieldValueInvalid spec.containers[0].resizePolicy"}},
		{"claim not in pod", func(s *corev1.PodSpec) { c0(s).Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}} },
			[]string{"FieldValueNotFound spec.containers[0].resources.claims[0]"}},
	}
	meta := &metav1.ObjectMeta{Name: "web-0", Namespace: "default"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := validSpec()
			tc.mutate(spec)
			got := errorKeys(ValidatePodSpec(spec, meta, field.NewPath("spec")))
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n  got  %q\n  want %q", got, want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	spec := validSpec()
	spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
	spec.Containers[0].Image = ""
	spec.Containers[0].Ports[0].ContainerPort = 70000
	errs := ValidatePodSpec(spec, nil, field.NewPath("spec"))
	want := []string{
		`spec.containers[0].image: Required value`,
		`spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`,
	}
	got := map[string]bool{}
	for _, e := range errs {
		got[e.Error()] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing error %q in %v", w, errs)
		}
	}
}

func TestTemplateRules(t *testing.T) {
	spec := validSpec()
	spec.HostNetwork = true
	spec.SecurityContext.Sysctls = nil
	spec.Containers[0].Ports[1].HostPort = 0 // a template may leave it for the pod to default
	spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}}}
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"bad key!": "x"}},
		Spec:       *spec,
	}
	got := errorKeys(ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")))
	want := []string{
		"FieldValueForbidden spec.template.spec.ephemeralContainers",
		"FieldValueInvalid spec.template.labels",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n  got  %q\n  want %q", got, want)
	}
}

func TestEphemeralContainers(t *testing.T) {
	spec := validSpec()
	spec.EphemeralContainers = []corev1.EphemeralContainer{
		{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox", ImagePullPolicy: "Always",
			TerminationMessagePolicy: "File", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}},
			TargetContainerName: "missing"},
		{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "app", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}},
	}
	got := errorKeys(ValidatePodSpec(spec, &metav1.ObjectMeta{Name: "p"}, field.NewPath("spec")))
	want := []string{
		"FieldValueDuplicate spec.ephemeralContainers[1].name",
		"FieldValueForbidden spec.ephemeralContainers[0].ports",
		"FieldValueNotFound spec.ephemeralContainers[0].targetContainerName",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n  got  %q\n  want %q", got, want)
	}
}

func TestPodSpecificAnnotations(t *testing.T) {
	spec := validSpec()
	cases := []struct {
		annotations map[string]string
		want        []string
	}{
		{map[string]string{corev1.PodDeletionCost: "10"}, nil},
		{map[string]string{corev1.PodDeletionCost: "+10"}, []string{"FieldValueInvalid metadata.annotations[controller.kubernetes.io/pod-deletion-cost]"}},
		{map[string]string{corev1.PodDeletionCost: "99999999999"}, []string{"FieldValueInvalid metadata.annotations[controller.kubernetes.io/pod-deletion-cost]"}},
		{map[string]string{corev1.MirrorPodAnnotationKey: "x"}, []string{"FieldValueInvalid metadata.annotations[kubernetes.io/config.mirror]"}},
		{map[string]string{corev1.SeccompPodAnnotationKey: "bogus"}, []string{"FieldValueInvalid metadata.annotations.seccomp.security.alpha.kubernetes.io/pod"}},
		{map[string]string{"container.apparmor.security.beta.kubernetes.io/nope": "runtime/default"},
			[]string{"FieldValueInvalid metadata.annotations[container.apparmor.security.beta.kubernetes.io/nope]"}},
		{map[string]string{corev1.TolerationsAnnotationKey: `[{"key":"a","operator":"Bad"}]`},
			[]string{"FieldValueNotSupported metadata.annotations.scheduler.alpha.kubernetes.io/tolerations[0].operator"}},
	}
	for _, tc := range cases {
		got := errorKeys(ValidatePodSpecificAnnotations(tc.annotations, spec, field.NewPath("metadata", "annotations"), PodValidationOptions{}))
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%v: got %q, want %q", tc.annotations, got, tc.want)
		}
	}
}

func TestOptionsForUpdateRelaxesStoredViolations(t *testing.T) {
	old := validSpec()
	old.HostNetwork = true
	old.Containers[0].Ports[0].HostPort = 8080
	old.Containers[0].Ports[1].HostPort = 9090
	meta := &metav1.ObjectMeta{Name: "p", Annotations: map[string]string{corev1.PodDeletionCost: "x"}}
	opts := OptionsForUpdate(old, meta)
	if !opts.AllowNamespacedSysctlsForHostNetAndHostIPC || !opts.AllowInvalidPodDeletionCost {
		t.Fatalf("options = %+v", opts)
	}
	if errs := ValidatePodSpecWithOptions(old, meta, field.NewPath("spec"), opts); len(errs) != 0 {
		t.Errorf("stored spec rejected under update options: %v", errs)
	}
	if got := OptionsForUpdate(validSpec(), &metav1.ObjectMeta{}); got != (PodValidationOptions{}) {
		t.Errorf("options for a valid spec = %+v, want none", got)
	}
}
