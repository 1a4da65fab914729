package integration

import (
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func service(name, ip string, typ corev1.ServiceType, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:      typ,
			ClusterIP: ip,
			Selector:  map[string]string{"app": name},
			Ports:     []corev1.ServicePort{{Port: 80, NodePort: nodePort}},
		},
	}
}

// ipTakenMessage is Kubernetes' answer to a ClusterIP in use
// (pkg/registry/core/service/storage/alloc.go, allocIPs).
func ipTakenMessage(name, ip string) string {
	return fmt.Sprintf(`Service %q is invalid: spec.clusterIPs: Invalid value: []string{%q}: failed to allocate IP %s: provided IP is already allocated`, name, ip, ip)
}

// TestServiceAllocation checks ClusterIP and NodePort allocation.
func TestServiceAllocation(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	svcs := s.Client.CoreV1().Services(ns)

	t.Run("ConcurrentClusterIPsAreUnique", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		const n = 50
		ips := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := svcs.Create(ctx, service(fmt.Sprintf("many-%d", i), "", "", 0), metav1.CreateOptions{})
				errs[i] = err
				if err == nil {
					ips[i] = out.Spec.ClusterIP
				}
			}()
		}
		wg.Wait()
		seen := map[string]int{}
		for i, ip := range ips {
			if errs[i] != nil {
				t.Errorf("create %d: %v", i, errs[i])
				continue
			}
			expectClusterIP(t, ip)
			if j, dup := seen[ip]; dup {
				t.Errorf("services %d and %d share clusterIP %s", j, i, ip)
			}
			seen[ip] = i
		}
		// The stored objects agree.
		list, err := svcs.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]string{}
		for _, svc := range list.Items {
			if other, dup := stored[svc.Spec.ClusterIP]; dup {
				t.Errorf("stored services %s and %s share %s", other, svc.Name, svc.Spec.ClusterIP)
			}
			stored[svc.Spec.ClusterIP] = svc.Name
		}
	})

	t.Run("RequestedClusterIP", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		const ip = "10.43.200.1"
		a, err := svcs.Create(ctx, service("ip-a", ip, "", 0), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Spec.ClusterIP != ip || len(a.Spec.ClusterIPs) != 1 || a.Spec.ClusterIPs[0] != ip {
			t.Errorf("clusterIP %q clusterIPs %v, want %s", a.Spec.ClusterIP, a.Spec.ClusterIPs, ip)
		}
		_, err = svcs.Create(ctx, service("ip-b", ip, "", 0), metav1.CreateOptions{})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid, ipTakenMessage("ip-b", ip))
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.clusterIPs", "provided IP is already allocated")
		_, err = svcs.Get(ctx, "ip-b", metav1.GetOptions{})
		expectError(t, err, 404, metav1.StatusReasonNotFound, "")

		// Outside the range.
		_, err = svcs.Create(ctx, service("ip-c", "10.99.0.1", "", 0), metav1.CreateOptions{})
		st = expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.clusterIPs", "failed to allocate IP 10.99.0.1: the provided IP (10.99.0.1) is not in the valid range")

		// The clusterIP cannot change.
		a.Spec.ClusterIP, a.Spec.ClusterIPs = "10.43.200.2", []string{"10.43.200.2"}
		_, err = svcs.Update(ctx, a, metav1.UpdateOptions{})
		st = expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.clusterIPs[0]", "may not change once set")

		// Deleting releases the address.
		if err := svcs.Delete(ctx, "ip-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := svcs.Create(ctx, service("ip-b", ip, "", 0), metav1.CreateOptions{}); err != nil {
			t.Fatalf("re-use of a released clusterIP: %v", err)
		}
	})

	t.Run("Headless", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		out, err := svcs.Create(ctx, service("headless", corev1.ClusterIPNone, "", 0), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.Spec.ClusterIP != corev1.ClusterIPNone || len(out.Spec.ClusterIPs) != 1 || out.Spec.ClusterIPs[0] != corev1.ClusterIPNone {
			t.Errorf("headless service clusterIP %q clusterIPs %v", out.Spec.ClusterIP, out.Spec.ClusterIPs)
		}
		ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
		if out, err = svcs.Create(ctx, ext, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if out.Spec.ClusterIP != "" || len(out.Spec.ClusterIPs) != 0 {
			t.Errorf("ExternalName service got clusterIP %q %v", out.Spec.ClusterIP, out.Spec.ClusterIPs)
		}
	})

	t.Run("NodePort", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		auto, err := svcs.Create(ctx, service("np-auto", "", corev1.ServiceTypeNodePort, 0), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p := auto.Spec.Ports[0].NodePort; p < 30000 || p > 32767 {
			t.Errorf("nodePort %d not in 30000-32767", p)
		}
		if auto.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
			t.Errorf("externalTrafficPolicy %q, want Cluster", auto.Spec.ExternalTrafficPolicy)
		}
		expectClusterIP(t, auto.Spec.ClusterIP)

		const port = 31234
		if _, err := svcs.Create(ctx, service("np-a", "", corev1.ServiceTypeNodePort, port), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = svcs.Create(ctx, service("np-b", "", corev1.ServiceTypeNodePort, port), metav1.CreateOptions{})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid, `Service "np-b" is invalid: spec.ports[0].nodePort: Invalid value: 31234: provided port is already allocated`)
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.ports[0].nodePort", "provided port is already allocated")
		_, err = svcs.Create(ctx, service("np-c", "", corev1.ServiceTypeNodePort, 80), metav1.CreateOptions{})
		expectError(t, err, 422, metav1.StatusReasonInvalid, `Service "np-c" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767`)

		// The failed creates kept no clusterIP: the automatic addresses
		// they took were released (checked through re-creation below).
		if err := svcs.Delete(ctx, "np-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		b, err := svcs.Create(ctx, service("np-b", "", corev1.ServiceTypeNodePort, port), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("re-create with the released nodePort: %v", err)
		}
		if b.Spec.Ports[0].NodePort != port {
			t.Errorf("nodePort %d, want %d", b.Spec.Ports[0].NodePort, port)
		}

		// Turning the service into ClusterIP releases the port.
		if _, err := svcs.Patch(ctx, "np-b", types.StrategicMergePatchType,
			[]byte(`{"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":null}]}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := svcs.Create(ctx, service("np-d", "", corev1.ServiceTypeNodePort, port), metav1.CreateOptions{}); err != nil {
			t.Fatalf("nodePort not released when the service became ClusterIP: %v", err)
		}
	})

	t.Run("DeleteAnswersTheService", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		if _, err := svcs.Create(ctx, service("answer", "", "", 0), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Services, like pods, answer a delete with the deleted object.
		r := do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/services/answer", "", nil)
		if r.code != 200 || r.status != nil {
			t.Errorf("DELETE of a service: HTTP %d %s, want 200 and the Service", r.code, truncate(r.body))
		}
	})
}
