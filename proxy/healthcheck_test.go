package proxy

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A LoadBalancer Service with externalTrafficPolicy Local gets its
// healthCheckNodePort served: 200 with local ready endpoints, 503 without,
// a JSON body with the count; the server goes with the Service or the
// policy.
func TestHealthCheckNodePort(t *testing.T) {
	listeners := map[int]net.Listener{}
	u := newUnit(t, func(c *Config) {
		c.HealthCheckListen = func(port int) (net.Listener, error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			listeners[port] = ln
			return ln, err
		}
	})
	defer u.p.health.closeAll()
	lb := service("lb", "10.43.0.20", loadBalancer(30080, "192.0.2.50"), etpLocal, func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 32000 })
	u.add(lb, slice("lb", "lb-1", httpPorts(), ep("10.42.0.5", testNode), ep("10.42.0.6", testNode, notReady), ep("10.42.1.5", "node2")))
	u.sync()
	ln := listeners[32000]
	if ln == nil {
		t.Fatalf("no listener for the healthCheckNodePort: %v", listeners)
	}
	get := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if code, body := get(); code != 200 || body["localEndpoints"] != float64(1) {
		t.Errorf("with one local ready endpoint: %d %v", code, body)
	}
	// The local endpoint goes: 503.
	u.add(slice("lb", "lb-1", httpPorts(), ep("10.42.1.5", "node2")))
	u.sync()
	if code, body := get(); code != 503 || body["localEndpoints"] != float64(0) {
		t.Errorf("without local endpoints: %d %v", code, body)
	}
	// Policy Cluster: no health check any more.
	cluster := lb.DeepCopy()
	cluster.Spec.ExternalTrafficPolicy = "Cluster"
	cluster.Spec.HealthCheckNodePort = 0
	u.add(cluster)
	u.sync()
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("the health check server still answers after the policy changed")
	}
}
