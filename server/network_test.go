package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"berth/internal/testserver"
	"berth/server"
)

func TestNetworkConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     server.Config
		dns     string // after Defaults
		wantErr string
	}{
		{name: "defaults", dns: "10.43.0.10"},
		{name: "dns follows the service CIDR", cfg: server.Config{ServiceCIDR: "10.96.0.0/12"}, dns: "10.96.0.10"},
		{name: "IPv6", cfg: server.Config{ServiceCIDR: "fd00:43::/112", ClusterCIDR: "fd00:42::/56"}, dns: "fd00:43::a"},
		{name: "dns outside", cfg: server.Config{ClusterDNS: "10.44.0.10"}, wantErr: "clusterDNS 10.44.0.10: not in serviceCIDR"},
		{name: "dns is the kubernetes service", cfg: server.Config{ClusterDNS: "10.43.0.1"}, wantErr: "the kubernetes service's address"},
		{name: "dns not an IP", cfg: server.Config{ClusterDNS: "dns"}, wantErr: `clusterDNS "dns"`},
		{name: "bad cluster CIDR", cfg: server.Config{ClusterCIDR: "10.42.0.0/33"}, wantErr: "clusterCIDR"},
		{name: "mask beyond 30", cfg: server.Config{NodeCIDRMaskSize: 31}, wantErr: "nodeCIDRMaskSize 31"},
		{name: "mask below the prefix", cfg: server.Config{NodeCIDRMaskSize: 15}, wantErr: "nodeCIDRMaskSize 15"},
		{name: "mask 30", cfg: server.Config{NodeCIDRMaskSize: 30}, dns: "10.43.0.10"},
		{name: "overlapping CIDRs", cfg: server.Config{ClusterCIDR: "10.0.0.0/8"}, wantErr: "overlaps serviceCIDR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Defaults()
			err := cfg.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ClusterDNS != tt.dns {
				t.Errorf("clusterDNS %s, want %s", cfg.ClusterDNS, tt.dns)
			}
		})
	}
	def := server.Config{}
	def.Defaults()
	if def.ClusterCIDR != "10.42.0.0/16" || def.NodeCIDRMaskSize != 24 {
		t.Errorf("defaults: clusterCIDR %s nodeCIDRMaskSize %d", def.ClusterCIDR, def.NodeCIDRMaskSize)
	}
	for _, name := range []string{"node-ipam-controller", "service-lb-controller", "ingress-status-controller", "dns-endpoints-controller"} {
		if !slices.Contains(server.ControllerNames(), name) {
			t.Errorf("controller %s unknown", name)
		}
	}
}

// The server makes kube-dns and the IngressClass "berth" at start; a
// restart puts back what is missing and keeps the user's changes.
func TestNetworkBootstrap(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	dir := s.Config.DataDir
	ctx := context.Background()

	svc, err := s.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d/%s->%s", p.Name, p.Port, p.Protocol, p.TargetPort.String()))
	}
	if want := []string{"dns:53/UDP->53", "dns-tcp:53/TCP->53"}; !slices.Equal(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	if svc.Spec.ClusterIP != "10.43.0.10" || svc.Spec.Selector != nil || svc.Spec.Type != corev1.ServiceTypeClusterIP ||
		svc.Labels["k8s-app"] != "kube-dns" || svc.Labels["kubernetes.io/cluster-service"] != "true" {
		t.Errorf("kube-dns %+v %v", svc.Spec, svc.Labels)
	}
	if s.Server.ClusterDNS() != "10.43.0.10" || s.Server.ClusterCIDR() != "10.42.0.0/16" {
		t.Errorf("server reports clusterDNS %q clusterCIDR %q", s.Server.ClusterDNS(), s.Server.ClusterCIDR())
	}
	ic, err := s.Client.NetworkingV1().IngressClasses().Get(ctx, "berth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ic.Spec.Controller != "berth.dev/ingress" || ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "true" {
		t.Errorf("ingress class %+v", ic)
	}

	// The user's changes: a label, a port gone, berth no longer default.
	svc.Labels["team"] = "dns"
	svc.Spec.Ports = svc.Spec.Ports[:1]
	if _, err := s.Client.CoreV1().Services("kube-system").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] = "false"
	if _, err := s.Client.NetworkingV1().IngressClasses().Update(ctx, ic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = testserver.Start(t, testserver.Bare, func(c *server.Config) { c.DataDir = dir })
	svc, err = s.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Labels["team"] != "dns" || len(svc.Spec.Ports) != 2 {
		t.Errorf("after restart: labels %v ports %v", svc.Labels, svc.Spec.Ports)
	}
	ic, err = s.Client.NetworkingV1().IngressClasses().Get(ctx, "berth", metav1.GetOptions{})
	if err != nil || ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "false" {
		t.Errorf("after restart: ingress class %v %v", ic, err)
	}

	// Deleted, the class comes back — not as the default when another
	// class is. A selector hands kube-dns to the user.
	if err := s.Client.NetworkingV1().IngressClasses().Delete(ctx, "berth", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec:       networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"k8s-app": "kube-dns"}
	svc.Spec.Ports = svc.Spec.Ports[:1]
	if _, err := s.Client.CoreV1().Services("kube-system").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = testserver.Start(t, testserver.Bare, func(c *server.Config) { c.DataDir = dir })
	ic, err = s.Client.NetworkingV1().IngressClasses().Get(ctx, "berth", metav1.GetOptions{})
	if err != nil || ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "false" {
		t.Errorf("recreated ingress class %v %v: want it, not default", ic, err)
	}
	svc, err = s.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || len(svc.Spec.Ports) != 1 {
		t.Errorf("kube-dns with a selector was changed: %v %v", svc, err)
	}
}

// With the controllers on, a node gets a pod CIDR, kube-dns an endpoint
// on it, LoadBalancer Services and berth's Ingresses the node's address.
func TestNetworkControllersWired(t *testing.T) {
	s := testserver.Start(t)
	c, ctx := s.Client, context.Background()
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The node IPAM controller may patch the Node meanwhile: retry.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.7.1"}}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "lb"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	class := "berth"
	if _, err := c.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "lb", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last string
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR != "10.42.0.0/24" {
			last = fmt.Sprintf("node pod CIDR %q", n.Spec.PodCIDR)
			return false, nil
		}
		sl, err := c.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kube-dns"})
		if err != nil || len(sl.Items) != 1 || len(sl.Items[0].Endpoints) != 1 || sl.Items[0].Endpoints[0].Addresses[0] != "10.42.0.1" {
			last = fmt.Sprintf("kube-dns slices %v", sl)
			return false, nil
		}
		svc, err := c.CoreV1().Services("default").Get(ctx, "lb", metav1.GetOptions{})
		if err != nil || len(svc.Status.LoadBalancer.Ingress) != 1 || svc.Status.LoadBalancer.Ingress[0].IP != "192.168.7.1" {
			last = fmt.Sprintf("lb status %v", svc.Status)
			return false, nil
		}
		ing, err := c.NetworkingV1().Ingresses("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(ing.Status.LoadBalancer.Ingress) != 1 || ing.Status.LoadBalancer.Ingress[0].IP != "192.168.7.1" {
			last = fmt.Sprintf("ingress status %v", ing.Status)
			return false, nil
		}
		return true, nil
	}); err != nil {
		t.Fatal(last)
	}
}
