package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckAdmission(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("3"),
		}},
	}
	requesting := func(cpu, mem string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl(cpu, mem)}}}}}
	}
	withPort := func(port int32) *corev1.Pod {
		p := requesting("", "")
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port, Protocol: corev1.ProtocolTCP}}
		return p
	}
	selecting := func(zone string) *corev1.Pod {
		p := requesting("", "")
		p.Spec.NodeSelector = map[string]string{"zone": zone}
		return p
	}
	tests := []struct {
		name          string
		pod           *corev1.Pod
		others        []*corev1.Pod
		reason, msage string
	}{
		{"fits", requesting("1", "512Mi"), []*corev1.Pod{requesting("1", "512Mi")}, "", ""},
		{"too much cpu", requesting("4", ""), nil, "OutOfcpu", "Node didn't have enough resource: cpu, requested: 4000, used: 0, capacity: 2000"},
		{"cpu used by others", requesting("1500m", ""), []*corev1.Pod{requesting("1", "")}, "OutOfcpu", "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		{"too much memory", requesting("", "2Gi"), nil, "OutOfmemory", "Node didn't have enough resource: memory, requested: 2147483648, used: 0, capacity: 1073741824"},
		{"too many pods", requesting("", ""), []*corev1.Pod{requesting("", ""), requesting("", ""), requesting("", "")}, "OutOfpods", "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"},
		{"node selector matches", selecting("a"), nil, "", ""},
		{"node selector", selecting("b"), nil, "NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{"host port taken", withPort(8080), []*corev1.Pod{withPort(8080)}, "NodePorts", "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"},
		{"other host port", withPort(8081), []*corev1.Pod{withPort(8080)}, "", ""},
	}
	for _, tt := range tests {
		reason, msg := checkAdmission(tt.pod, node, tt.others)
		if reason != tt.reason || msg != tt.msage {
			t.Errorf("%s: %q %q, want %q %q", tt.name, reason, msg, tt.reason, tt.msage)
		}
	}
}
