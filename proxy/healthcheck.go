package proxy

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// healthChecks serves the healthCheckNodePort of every Service with
// externalTrafficPolicy Local, as kube-proxy does: load balancers ask each
// node whether it has endpoints of the Service, and send traffic only to
// those answering 200. The answer is 200 with at least one local ready
// endpoint, 503 without, and says how many in a JSON body.
type healthChecks struct {
	listen func(port int) (net.Listener, error)
	logger *slog.Logger

	mu       sync.Mutex
	services map[types.NamespacedName]*healthCheck
}

type healthCheck struct {
	port   int
	srv    *http.Server
	mu     sync.Mutex
	local  int
	closed bool
}

func newHealthChecks(listen func(port int) (net.Listener, error), logger *slog.Logger) *healthChecks {
	if listen == nil {
		listen = func(port int) (net.Listener, error) { return net.Listen("tcp", ":"+strconv.Itoa(port)) }
	}
	return &healthChecks{listen: listen, logger: logger, services: map[types.NamespacedName]*healthCheck{}}
}

// update takes the current state of one Service (svc nil: gone).
func (h *healthChecks) update(key types.NamespacedName, svc *corev1.Service, slices map[string]*discoveryv1.EndpointSlice, nodeName string) {
	port := 0
	if svc != nil && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		port = int(svc.Spec.HealthCheckNodePort)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.services[key]
	if cur != nil && cur.port != port {
		cur.close()
		delete(h.services, key)
		cur = nil
	}
	if port == 0 {
		return
	}
	if cur == nil {
		ln, err := h.listen(port)
		if err != nil {
			h.logger.Error("health check node port", "service", key.String(), "port", port, "err", err)
			return
		}
		cur = &healthCheck{port: port}
		cur.srv = &http.Server{Handler: cur.handler(key), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := cur.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.logger.Error("health check node port", "service", key.String(), "port", port, "err", err)
			}
		}()
		h.services[key] = cur
	}
	cur.mu.Lock()
	cur.local = localReadyEndpoints(slices, nodeName)
	cur.mu.Unlock()
}

// closeAll stops every health check server.
func (h *healthChecks) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, hc := range h.services {
		hc.close()
		delete(h.services, key)
	}
}

func (hc *healthCheck) close() {
	hc.mu.Lock()
	hc.closed = true
	hc.mu.Unlock()
	hc.srv.Close()
}

// handler answers as kube-proxy's service health server does.
func (hc *healthCheck) handler(key types.NamespacedName) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hc.mu.Lock()
		local := hc.local
		hc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if local == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{
			"service":             map[string]string{"namespace": key.Namespace, "name": key.Name},
			"localEndpoints":      local,
			"serviceProxyHealthy": true,
		})
	})
}

// localReadyEndpoints counts the distinct ready endpoints on this node.
func localReadyEndpoints(slices map[string]*discoveryv1.EndpointSlice, nodeName string) int {
	seen := map[string]bool{}
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.NodeName == nil || *e.NodeName != nodeName || (e.Conditions.Ready != nil && !*e.Conditions.Ready) || len(e.Addresses) == 0 {
				continue
			}
			seen[e.Addresses[0]] = true
		}
	}
	return len(seen)
}
