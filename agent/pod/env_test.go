package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func testEnvSource() *envSource {
	cms := map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"k": "v", "url": "http://$(HOST)"}}}
	secrets := map[string]*corev1.Secret{"s": {Data: map[string][]byte{"pw": []byte("x y")}}}
	return &envSource{
		configMap: func(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
			if cm, ok := cms[name]; ok {
				return cm, nil
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
		},
		secret: func(_ context.Context, _, name string) (*corev1.Secret, error) {
			if s, ok := secrets[name]; ok {
				return s, nil
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
		},
		services:    map[string]string{"KUBERNETES_SERVICE_HOST": "10.43.0.1", "HOST": "svc-host"},
		podIPs:      []string{"10.42.0.5"},
		hostIPs:     []string{"192.0.2.1"},
		allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "a", "tier": "b"}, Annotations: map[string]string{"note": "n"}},
		Spec:       corev1.PodSpec{NodeName: "node1", ServiceAccountName: "sa", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestMakeEnv(t *testing.T) {
	ref := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	pod := testPod()
	c := &pod.Spec.Containers[0]
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
	c.EnvFrom = []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
		{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
	}
	c.Env = []corev1.EnvVar{
		{Name: "k", Value: "overrides envFrom"},
		{Name: "N", ValueFrom: ref("metadata.name")},
		{Name: "NS", ValueFrom: ref("metadata.namespace")},
		{Name: "UID", ValueFrom: ref("metadata.uid")},
		{Name: "APP", ValueFrom: ref("metadata.labels['app']")},
		{Name: "NOTE", ValueFrom: ref("metadata.annotations['note']")},
		{Name: "LABELS", ValueFrom: ref("metadata.labels")},
		{Name: "NODE", ValueFrom: ref("spec.nodeName")},
		{Name: "SA", ValueFrom: ref("spec.serviceAccountName")},
		{Name: "IP", ValueFrom: ref("status.podIP")},
		{Name: "IPS", ValueFrom: ref("status.podIPs")},
		{Name: "HOSTIP", ValueFrom: ref("status.hostIP")},
		{Name: "CPU_REQ_MILLI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
		{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}},
		{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "none", Optional: ptr.To(true)}}},
		{Name: "MSG", Value: "$(N) at $(IP) via $(HOST), $(LATER) $$(N)"},
		{Name: "LATER", Value: "late"},
		{Name: "HOST", Value: "mine"},
	}
	env, err := makeEnv(context.Background(), pod, c, testEnvSource())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"k": "overrides envFrom", "url": "http://$(HOST)", "S_pw": "x y", "N": "p", "NS": "ns", "UID": "u1", "APP": "a", "NOTE": "n",
		"LABELS": "app=\"a\"\ntier=\"b\"", "NODE": "node1", "SA": "sa", "IP": "10.42.0.5", "IPS": "10.42.0.5", "HOSTIP": "192.0.2.1",
		"CPU_REQ_MILLI": "250", "CPU_LIMIT": "2", "MEM_MI": "128", "PW": "x y",
		"MSG": "p at 10.42.0.5 via svc-host, $(LATER) $(N)", "LATER": "late", "HOST": "mine", "KUBERNETES_SERVICE_HOST": "10.43.0.1",
	}
	for k, v := range want {
		if got, ok := env.values[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := env.values["OPT"]; ok {
		t.Error("optional missing key set")
	}
	if len(env.values) != len(want) || len(env.names) != len(want) {
		t.Errorf("%d variables %v, want %d", len(env.values), env.names, len(want))
	}
	if env.names[0] != "k" {
		t.Errorf("order %v: envFrom first", env.names)
	}
}

func TestMakeEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  corev1.EnvVar
		from *corev1.EnvFromSource
		want string
	}{
		{"missing configMap", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}},
			nil, `configmap "nope" not found`},
		{"missing key", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "nokey"}}},
			nil, "couldn't find key nokey in ConfigMap ns/cm"},
		{"missing secret", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}},
			nil, `secret "nope" not found`},
		{"missing secret key", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
			nil, "couldn't find key k in Secret ns/s"},
		{"missing envFrom secret", corev1.EnvVar{Name: "X"}, &corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}},
			`secret "nope" not found`},
	}
	for _, tt := range tests {
		pod := testPod()
		c := &pod.Spec.Containers[0]
		c.Env = []corev1.EnvVar{tt.env}
		if tt.from != nil {
			c.EnvFrom = []corev1.EnvFromSource{*tt.from}
		}
		if _, err := makeEnv(context.Background(), pod, c, testEnvSource()); err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestServiceEnv(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	services := []*corev1.Service{
		svc("default", "kubernetes", "10.43.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}),
		svc("app", "my-db", "10.43.0.9", corev1.ServicePort{Port: 5432}, corev1.ServicePort{Name: "metrics", Port: 9187, Protocol: corev1.ProtocolUDP}),
		svc("app", "headless", "None", corev1.ServicePort{Port: 80}),
		svc("other", "elsewhere", "10.43.0.7", corev1.ServicePort{Port: 80}),
	}
	got := serviceEnv(services, "app", true)
	want := map[string]string{
		"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT": "tcp://10.43.0.1:443", "KUBERNETES_PORT_443_TCP": "tcp://10.43.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.43.0.1",
		"MY_DB_SERVICE_HOST": "10.43.0.9", "MY_DB_SERVICE_PORT": "5432", "MY_DB_SERVICE_PORT_METRICS": "9187",
		"MY_DB_PORT": "tcp://10.43.0.9:5432", "MY_DB_PORT_5432_TCP": "tcp://10.43.0.9:5432", "MY_DB_PORT_5432_TCP_PROTO": "tcp",
		"MY_DB_PORT_5432_TCP_PORT": "5432", "MY_DB_PORT_5432_TCP_ADDR": "10.43.0.9",
		"MY_DB_PORT_9187_UDP": "udp://10.43.0.9:9187", "MY_DB_PORT_9187_UDP_PROTO": "udp", "MY_DB_PORT_9187_UDP_PORT": "9187", "MY_DB_PORT_9187_UDP_ADDR": "10.43.0.9",
	}
	if len(got) != len(want) {
		t.Errorf("got %d variables, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	noLinks := serviceEnv(services, "app", false)
	if _, ok := noLinks["MY_DB_SERVICE_HOST"]; ok || noLinks["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" {
		t.Errorf("enableServiceLinks=false: %v", noLinks)
	}
}

func TestFieldValueUnsupported(t *testing.T) {
	if _, err := fieldValue(testPod(), "spec.bogus", &envSource{}); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("error %v", err)
	}
}
