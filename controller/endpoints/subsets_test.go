package endpoints

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	apiendpoints "berth/apiserver/registry/core/endpoints"
)

func testPod(name, ip string, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func testService(mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// summary renders subsets compactly: "[ready] [notready] ports" per subset.
func summary(subsets []corev1.EndpointSubset) string {
	out := ""
	for _, s := range subsets {
		out += "{"
		for _, a := range s.Addresses {
			out += a.IP
			if a.Hostname != "" {
				out += "(" + a.Hostname + ")"
			}
			out += " "
		}
		out += "|"
		for _, a := range s.NotReadyAddresses {
			out += " " + a.IP
		}
		out += " |"
		for _, p := range s.Ports {
			out += fmt.Sprintf(" %s:%d/%s", p.Name, p.Port, p.Protocol)
		}
		out += "}"
	}
	return out
}

func TestDesiredSubsets(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string
	}{
		{"ready and not ready", testService(), []*corev1.Pod{testPod("a", "10.0.0.1", true), testPod("b", "10.0.0.2", false)},
			"{10.0.0.1 | 10.0.0.2 | http:8080/TCP}"},
		{"publishNotReadyAddresses", testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			[]*corev1.Pod{testPod("a", "10.0.0.1", true), testPod("b", "10.0.0.2", false)},
			"{10.0.0.1 10.0.0.2 | | http:8080/TCP}"},
		{"terminating and finished pods left out", testService(), []*corev1.Pod{
			testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
			testPod("b", "10.0.0.2", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
			testPod("c", "", true, func(p *corev1.Pod) { p.Status.PodIPs = nil }),
			testPod("d", "10.0.0.4", true)},
			"{10.0.0.4 | | http:8080/TCP}"},
		{"terminating kept with publishNotReadyAddresses", testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			[]*corev1.Pod{testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now })},
			"{10.0.0.1 | | http:8080/TCP}"},
		{"numeric target port", testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9000) }),
			[]*corev1.Pod{testPod("a", "10.0.0.1", true)}, "{10.0.0.1 | | http:9000/TCP}"},
		{"named port missing on a pod", testService(), []*corev1.Pod{testPod("a", "10.0.0.1", true),
			testPod("b", "10.0.0.2", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			"{10.0.0.1 | | http:8080/TCP}"},
		{"named port protocol must match", testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("dns") }),
			[]*corev1.Pod{testPod("a", "10.0.0.1", true)}, ""},
		{"headless without ports, hostname", testService(func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }),
			[]*corev1.Pod{testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Spec.Hostname = "a"; p.Spec.Subdomain = "web" })},
			"{10.0.0.1(a) | |}"},
		{"ports without pods' ports", testService(func(s *corev1.Service) { s.Spec.Ports = nil }), []*corev1.Pod{testPod("a", "10.0.0.1", true)}, ""},
		{"two ports repacked into one subset", testService(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")})
		}), []*corev1.Pod{testPod("b", "10.0.0.2", true), testPod("a", "10.0.0.1", true)},
			"{10.0.0.1 10.0.0.2 | | http:8080/TCP dns:5353/UDP}"},
		{"IPv6 service takes the pod's IPv6", testService(func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }),
			[]*corev1.Pod{testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00::1"}) })},
			"{fd00::1 | | http:8080/TCP}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := desiredSubsets(tc.svc, tc.pods)
			if s := summary(got); s != tc.want && !(tc.name == "two ports repacked into one subset" && s == "{10.0.0.1 10.0.0.2 | | dns:5353/UDP http:8080/TCP}") {
				t.Errorf("subsets = %s; want %s", s, tc.want)
			}
		})
	}
}

// The subsets the controller computes are in the form the API server
// stores, whatever the order of the pods: else every sync would see a
// difference and rewrite the Endpoints (losing the trigger time).
func TestDesiredSubsetsAreStoredForm(t *testing.T) {
	svc := testService(func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}
	})
	a := testPod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 })
	b := testPod("b", "10.0.0.2", false, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8081 })
	got := desiredSubsets(svc, []*corev1.Pod{a, b})
	if len(got) != 2 {
		t.Fatalf("subsets = %s; want two (the ports differ)", summary(got))
	}
	if again := desiredSubsets(svc, []*corev1.Pod{b, a}); !reflect.DeepEqual(got, again) {
		t.Errorf("pod order changes the subsets:\n%s\n%s", summary(got), summary(again))
	}
	stored := apiendpoints.RepackSubsets(append([]corev1.EndpointSubset(nil), got...))
	if !reflect.DeepEqual(got, stored) {
		t.Errorf("the API server stores other subsets:\n%s\n%s", summary(got), summary(stored))
	}
}

func TestTruncate(t *testing.T) {
	addrs := func(n int, prefix string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, n)
		for i := range out {
			out[i].IP = fmt.Sprintf("%s.%d.%d", prefix, i/256, i%256)
		}
		return out
	}
	cases := []struct {
		name                  string
		subsets               []corev1.EndpointSubset
		truncated             bool
		wantReady, wantNotRdy []int
	}{
		{"under", []corev1.EndpointSubset{{Addresses: addrs(600, "10.0"), NotReadyAddresses: addrs(400, "10.1")}}, false, []int{600}, []int{400}},
		{"not ready cut first", []corev1.EndpointSubset{{Addresses: addrs(900, "10.0"), NotReadyAddresses: addrs(300, "10.1")}}, true, []int{900}, []int{100}},
		{"ready cut proportionally", []corev1.EndpointSubset{
			{Addresses: addrs(1200, "10.0"), NotReadyAddresses: addrs(10, "10.1")},
			{Addresses: addrs(800, "10.2")}}, true, []int{600, 400}, []int{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{Subsets: tc.subsets}
			if got := truncate(ep); got != tc.truncated {
				t.Fatalf("truncate = %v; want %v", got, tc.truncated)
			}
			for i, s := range ep.Subsets {
				if len(s.Addresses) != tc.wantReady[i] || len(s.NotReadyAddresses) != tc.wantNotRdy[i] {
					t.Errorf("subset %d: %d ready, %d not ready; want %d, %d", i, len(s.Addresses), len(s.NotReadyAddresses), tc.wantReady[i], tc.wantNotRdy[i])
				}
			}
		})
	}
}
