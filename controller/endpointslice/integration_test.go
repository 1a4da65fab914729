package endpointslice_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/endpointslice"
	"berth/internal/testserver"
)

const timeout = 30 * time.Second

func TestEndpointSlicesFollowPods(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cs := s.Client
	ns := "slices"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1",
		Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}}, metav1.CreateOptions{})
	must(t, err)
	s.RunControllers(t, controller.Options{}, endpointslice.New)

	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	must(t, err)

	// No pods yet: one empty placeholder slice.
	waitSlices(ctx, t, cs, ns, "[ports=]", func(slices []discoveryv1.EndpointSlice) error {
		sl := slices[0]
		if sl.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" || !strings.HasPrefix(sl.Name, "web-") {
			return fmt.Errorf("slice %s labels %v", sl.Name, sl.Labels)
		}
		if len(sl.OwnerReferences) != 1 || sl.OwnerReferences[0].UID != svc.UID {
			return fmt.Errorf("owners %+v", sl.OwnerReferences)
		}
		return nil
	})

	runPod(ctx, t, cs, ns, "a", "10.0.0.1", 8080, true)
	runPod(ctx, t, cs, ns, "b", "10.0.0.2", 8080, false)
	waitSlices(ctx, t, cs, ns, "[ports=http:8080 a:10.0.0.1:R+S+T- b:10.0.0.2:R-S-T-]", func(slices []discoveryv1.EndpointSlice) error {
		for _, ep := range slices[0].Endpoints {
			if ep.Zone == nil || *ep.Zone != "zone-a" || ep.NodeName == nil || *ep.NodeName != "node1" {
				return fmt.Errorf("endpoint %s zone %v node %v", ep.TargetRef.Name, ep.Zone, ep.NodeName)
			}
		}
		return nil
	})

	// b becomes ready; a terminates (still serving).
	setReady(ctx, t, cs, ns, "b", true)
	must(t, cs.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{}))
	waitSlices(ctx, t, cs, ns, "[ports=http:8080 a:10.0.0.1:R-S+T+ b:10.0.0.2:R+S+T-]", nil)

	// A pod whose named port resolves to another number gets its own slice.
	runPod(ctx, t, cs, ns, "c", "10.0.0.3", 9090, true)
	waitSlices(ctx, t, cs, ns, "[ports=http:8080 a:10.0.0.1:R-S+T+ b:10.0.0.2:R+S+T-] [ports=http:9090 c:10.0.0.3:R+S+T-]", nil)
}

// describe renders slices: per slice its ports and endpoints with their
// ready/serving/terminating conditions, sorted.
func describe(slices []discoveryv1.EndpointSlice) string {
	var out []string
	for _, s := range slices {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", *p.Name, *p.Port))
		}
		parts := []string{"ports=" + strings.Join(ports, ",")}
		var eps []string
		for _, ep := range s.Endpoints {
			eps = append(eps, fmt.Sprintf("%s:%s:R%sS%sT%s", ep.TargetRef.Name, strings.Join(ep.Addresses, ","),
				sign(ep.Conditions.Ready), sign(ep.Conditions.Serving), sign(ep.Conditions.Terminating)))
		}
		sort.Strings(eps)
		out = append(out, "["+strings.Join(append(parts, eps...), " ")+"]")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func sign(b *bool) string {
	switch {
	case b == nil:
		return "?"
	case *b:
		return "+"
	}
	return "-"
}

func waitSlices(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, want string, check func([]discoveryv1.EndpointSlice) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		l, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			last = err
			return false, nil
		}
		if got := describe(l.Items); got != want {
			last = fmt.Errorf("slices %s", got)
			return false, nil
		}
		if check != nil {
			if last = check(l.Items); last != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("slices %s: %v (last: %v)", want, err, last)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, ip string, port int32, ready bool) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "example.com/web:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
	}, metav1.CreateOptions{})
	must(t, err)
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condStatus(ready), LastTransitionTime: metav1.Now()}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	must(t, err)
}

func setReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, ready bool) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condStatus(ready), LastTransitionTime: metav1.Now()}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	must(t, err)
}

func condStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}
