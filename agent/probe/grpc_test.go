package probe

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
)

// grpcServer serves gRPC on a local port, with the health service when
// h is not nil; it returns the port.
func grpcServer(t *testing.T, h healthpb.HealthServer) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	if h != nil {
		healthpb.RegisterHealthServer(s, h)
	}
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().(*net.TCPAddr).Port
}

// slowHealth answers once release is closed, whatever its caller's
// deadline.
type slowHealth struct {
	healthpb.UnimplementedHealthServer
	release chan struct{}
}

func (h slowHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	<-h.release
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func TestGRPCProbe(t *testing.T) {
	t.Parallel()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthy := grpcServer(t, hs)
	bare := grpcServer(t, nil)
	release := make(chan struct{})
	slow := grpcServer(t, slowHealth{release: release})
	t.Cleanup(func() { close(release) })
	closed := closedPort(t)
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		action  corev1.GRPCAction
		want    outcome
		output  string // prefix
		contain string
	}{
		{name: "serving", action: corev1.GRPCAction{Port: int32(healthy)}, want: success, output: "service healthy"},
		{name: "not serving", action: corev1.GRPCAction{Port: int32(healthy), Service: str("down")}, want: failure,
			output: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", action: corev1.GRPCAction{Port: int32(healthy), Service: str("other")}, want: failure,
			output: "error: health rpc probe failed: rpc error: code = NotFound"},
		{name: "no health service", action: corev1.GRPCAction{Port: int32(bare)}, want: failure,
			output: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "},
		{name: "timeout", action: corev1.GRPCAction{Port: int32(slow)}, want: failure,
			output: "timeout: health rpc did not complete within 1s"},
		{name: "connection refused", action: corev1.GRPCAction{Port: int32(closed)}, want: failure,
			output: "error: health rpc probe failed: rpc error: code = Unavailable", contain: fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", closed)},
	}
	m := NewManager(Config{Logger: quiet})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &container{pod: &corev1.Pod{}, spec: &corev1.Container{Name: "c"}, podIP: "127.0.0.1"}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &tt.action}, TimeoutSeconds: 1}
			got, output, err := m.runProbe(context.Background(), p, c)
			if err != nil || got != tt.want || !strings.HasPrefix(output, tt.output) || !strings.Contains(output, tt.contain) {
				t.Fatalf("got %v %q %v, want %v %q...%q", got, output, err, tt.want, tt.output, tt.contain)
			}
		})
	}
}
