// Package testserver starts a berth control plane inside a test: embedded
// etcd in the test's temporary directory, the API server on a free
// loopback port, and clients for it. Everything stops when the test ends.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"berth/server"
)

var klogOnce sync.Once

// Bare configures a server without its controllers and scheduler, for tests
// that run the components they test themselves.
func Bare(c *server.Config) {
	c.DisableControllers = true
	c.DisableScheduler = true
	c.DisableServiceAccountAdmission = true
}

// Server is a running control plane.
type Server struct {
	// Server is the control plane itself.
	Server     *server.Server
	Config     server.Config
	Kubeconfig string
	Rest       *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	stop       func()
	done       chan error
	once       sync.Once
	err        error
}

// Start runs a control plane for the test; opts adjust its configuration.
// Set BERTH_TEST_LOG=1 to see its logs.
func Start(t testing.TB, opts ...func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), Port: 0, BindAddress: "127.0.0.1"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Logger == nil {
		out := io.Discard
		if os.Getenv("BERTH_TEST_LOG") != "" {
			out = os.Stderr
		}
		cfg.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		// client-go logs through klog, which is process-wide: send it to
		// the same place as the servers' logs, once per test process.
		klogOnce.Do(func() { klog.SetSlogLogger(cfg.Logger) })
	}
	s, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("server stopped with: %v", err)
		}
	})
	return s
}

// Run starts a control plane with cfg and waits until it is ready.
func Run(cfg server.Config) (*Server, error) {
	srv, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		return nil, err
	case <-time.After(30 * time.Second):
		cancel()
		return nil, context.DeadlineExceeded
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", srv.KubeconfigPath())
	if err != nil {
		cancel()
		return nil, err
	}
	restCfg.QPS, restCfg.Burst = -1, 0 // no client-side rate limit
	s := &Server{Server: srv, Config: cfg, Kubeconfig: srv.KubeconfigPath(), Rest: restCfg, stop: cancel, done: done}
	if s.Client, err = kubernetes.NewForConfig(restCfg); err != nil {
		cancel()
		return nil, err
	}
	if s.Dynamic, err = dynamic.NewForConfig(restCfg); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Stop stops the control plane and waits for it to end. Calling it again
// returns the first result.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.stop()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = context.DeadlineExceeded
		}
	})
	return s.err
}
