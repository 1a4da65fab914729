package endpoints_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"berth/controller"
	"berth/controller/endpoints"
	"berth/internal/testserver"
)

const timeout = 30 * time.Second

func TestEndpointsFollowPods(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cs := s.Client
	ns := "endpoints"
	must(t, create(ctx, cs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	s.RunControllers(t, controller.Options{}, endpoints.New)

	_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	must(t, err)
	a := runPod(ctx, t, cs, ns, "a", "10.0.0.1", 8080, true)
	runPod(ctx, t, cs, ns, "b", "10.0.0.2", 8081, false)

	// a is ready, b is not; their named ports differ, so two subsets.
	waitFor(ctx, t, cs, ns, "web", "{10.0.0.1 | | http:8080/TCP}{ | 10.0.0.2 | http:8081/TCP}", func(ep *corev1.Endpoints) error {
		if ep.Labels["tier"] != "front" {
			return fmt.Errorf("labels %v", ep.Labels)
		}
		if _, err := time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
			return fmt.Errorf("trigger time annotation: %v", err)
		}
		addr := ep.Subsets[0].Addresses[0]
		if addr.NodeName == nil || *addr.NodeName != "node1" || addr.TargetRef == nil || addr.TargetRef.UID != a.UID {
			return fmt.Errorf("address %+v", addr)
		}
		return nil
	})

	// b becomes ready.
	setReady(ctx, t, cs, ns, "b", true)
	waitFor(ctx, t, cs, ns, "web", "{10.0.0.1 | | http:8080/TCP}{10.0.0.2 | | http:8081/TCP}", nil)

	// a becomes unready, then terminates: it leaves.
	setReady(ctx, t, cs, ns, "a", false)
	waitFor(ctx, t, cs, ns, "web", "{ | 10.0.0.1 | http:8080/TCP}{10.0.0.2 | | http:8081/TCP}", nil)
	must(t, cs.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{}))
	waitFor(ctx, t, cs, ns, "web", "{10.0.0.2 | | http:8081/TCP}", nil)

	// A Service without selector keeps the Endpoints it is given.
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.CoreV1().Endpoints(ns).Create(ctx, &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.1.1"}},
			Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
	}, metav1.CreateOptions{})
	must(t, err)

	// The Service goes: so do its Endpoints.
	must(t, cs.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}))
	poll(ctx, t, "endpoints deleted with the service", func() (bool, error) {
		_, err := cs.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, "manual", metav1.GetOptions{})
	must(t, err)
	if summary(ep.Subsets) != "{192.168.1.1 | | :80/TCP}" {
		t.Errorf("manual endpoints = %s; want them untouched", summary(ep.Subsets))
	}
}

func summary(subsets []corev1.EndpointSubset) string {
	out := ""
	for _, s := range subsets {
		out += "{"
		for i, a := range s.Addresses {
			if i > 0 {
				out += " "
			}
			out += a.IP
		}
		out += " |"
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

func waitFor(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, want string, check func(*corev1.Endpoints) error) {
	t.Helper()
	var got string
	poll(ctx, t, "endpoints "+want, func() (bool, error) {
		ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = summary(ep.Subsets)
		if got != want {
			return false, fmt.Errorf("subsets %s", got)
		}
		if check != nil {
			if err := check(ep); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last: %v)", what, err, last)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func create(ctx context.Context, cs kubernetes.Interface, ns *corev1.Namespace) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	return err
}

func runPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, ip string, port int32, ready bool) *corev1.Pod {
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
	p, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	must(t, err)
	return p
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
