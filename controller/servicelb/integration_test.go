package servicelb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/servicelb"
	"berth/internal/testserver"
)

const timeout = 20 * time.Second

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createNode(t *testing.T, c kubernetes.Interface, name, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setNode(t, c, n, ip, ready)
}

func setNode(t *testing.T, c kubernetes.Interface, n *corev1.Node, ip string, ready bool) {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: n.Name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createService(t *testing.T, c kubernetes.Interface, name string, mutate func(*corev1.Service)) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	if _, err := c.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// ingress waits for the Service's status to list want (in order) with
// ipMode VIP, and returns the Service.
func ingress(t *testing.T, c kubernetes.Interface, name string, want ...string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	eventually(t, name+" status", func() error {
		var err error
		svc, err = c.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var got []string
		for _, i := range svc.Status.LoadBalancer.Ingress {
			if i.IPMode == nil || *i.IPMode != corev1.LoadBalancerIPModeVIP {
				return fmt.Errorf("ipMode %v", i.IPMode)
			}
			got = append(got, i.IP)
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("ingress %v, want %v", got, want)
		}
		return nil
	})
	return svc
}

func reasons(t *testing.T, c kubernetes.Interface, name string) []string {
	t.Helper()
	l, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range l.Items {
		if e.Source.Component == servicelb.Component {
			out = append(out, e.Reason)
		}
	}
	slices.Sort(out)
	return out
}

func TestLoadBalancers(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	c, ctx := s.Client, context.Background()
	createNode(t, c, "a", "192.168.0.1", true)
	createNode(t, c, "b", "192.168.0.2", true)
	createNode(t, c, "c", "192.168.0.3", false)
	s.RunControllers(t, controller.Options{}, servicelb.New)

	createService(t, c, "classy", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/lb") })
	createService(t, c, "web", nil)
	web := ingress(t, c, "web", "192.168.0.1", "192.168.0.2")
	if !slices.Contains(web.Finalizers, servicelb.Finalizer) {
		t.Errorf("finalizers %v", web.Finalizers)
	}
	eventually(t, "events", func() error {
		// UpdatedLoadBalancer may come too: the nodes the controller first
		// lists count as a change of hosts, as in Kubernetes.
		if got := slices.DeleteFunc(reasons(t, c, "web"), func(r string) bool { return r == "UpdatedLoadBalancer" }); !slices.Equal(got, []string{"EnsuredLoadBalancer", "EnsuringLoadBalancer"}) {
			return fmt.Errorf("events %v", got)
		}
		return nil
	})
	classy, err := c.CoreV1().Services("default").Get(ctx, "classy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(classy.Finalizers) != 0 || len(classy.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("a service of another class was touched: %v %v", classy.Finalizers, classy.Status.LoadBalancer)
	}

	// A node becoming ready joins the status; a cordoned one leaves.
	nc, err := c.CoreV1().Nodes().Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setNode(t, c, nc, "192.168.0.3", true)
	ingress(t, c, "web", "192.168.0.1", "192.168.0.2", "192.168.0.3")
	if _, err := c.CoreV1().Nodes().Patch(ctx, "a", "application/merge-patch+json", []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ingress(t, c, "web", "192.168.0.2", "192.168.0.3")

	// externalTrafficPolicy Local: the nodes with a ready endpoint.
	createService(t, c, "local", func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	ingress(t, c, "local")
	if _, err := c.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "local-1", Labels: map[string]string{discoveryv1.LabelServiceName: "local"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.1.5"}, NodeName: ptr.To("b"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.2.5"}, NodeName: ptr.To("c"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ingress(t, c, "local", "192.168.0.2")

	// Type changed away: finalizer gone, status cleared.
	web, err = c.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := c.CoreV1().Services("default").Update(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cleanup", func() error {
		svc, err := c.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(svc.Finalizers) != 0 || len(svc.Status.LoadBalancer.Ingress) != 0 {
			return fmt.Errorf("finalizers %v status %v", svc.Finalizers, svc.Status.LoadBalancer)
		}
		if got := strings.Join(reasons(t, c, "web"), ","); !strings.Contains(got, "DeletedLoadBalancer") {
			return fmt.Errorf("events %s", got)
		}
		return nil
	})

	// Deleting a LoadBalancer Service: the finalizer lets it go once the
	// load balancer is deleted.
	if err := c.CoreV1().Services("default").Delete(ctx, "local", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion", func() error {
		_, err := c.CoreV1().Services("default").Get(ctx, "local", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}
