package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/stats"
)

// Identities allowed to call the agent.
const (
	// APIServerClientCN is the common name of the API server's client
	// certificate for agents.
	APIServerClientCN = "kube-apiserver-kubelet-client"
	// mastersGroup is the cluster administrators' group (the admin
	// kubeconfig's certificate), allowed for tests and debugging.
	mastersGroup = "system:masters"
)

// Runtime is the part of the CRI runtime service the server uses;
// runtimeapi.RuntimeServiceClient implements it.
type Runtime interface {
	ListPodSandbox(ctx context.Context, in *runtimeapi.ListPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error)
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error)
	Exec(ctx context.Context, in *runtimeapi.ExecRequest, opts ...grpc.CallOption) (*runtimeapi.ExecResponse, error)
	Attach(ctx context.Context, in *runtimeapi.AttachRequest, opts ...grpc.CallOption) (*runtimeapi.AttachResponse, error)
	PortForward(ctx context.Context, in *runtimeapi.PortForwardRequest, opts ...grpc.CallOption) (*runtimeapi.PortForwardResponse, error)
}

var _ Runtime = runtimeapi.RuntimeServiceClient(nil)

// StatsProvider gives the node's stats summary; *stats.Collector
// implements it.
type StatsProvider interface {
	Summary(ctx context.Context, onlyCPUAndMemory bool) (*stats.Summary, error)
}

var _ StatsProvider = (*stats.Collector)(nil)

// Config configures the agent's HTTPS endpoint.
type Config struct {
	// Address is where to listen. Default ":10250".
	Address string
	// Listener, if set, is used instead of listening on Address.
	Listener net.Listener
	// TLS holds the serving certificate and, in ClientCAs, the cluster CA
	// that client certificates must be signed by. Required. Client
	// certificates are verified when given; requests without one are
	// refused with 401.
	TLS *tls.Config
	// Runtime is the container runtime. Required.
	Runtime Runtime
	// Stats serves /stats/summary; without it the endpoint answers 503.
	Stats StatsProvider
	// LogPollInterval is how often a followed log is checked for new
	// lines. Default 200ms.
	LogPollInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.TLS == nil || (len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil) {
		return errors.New("agent server: a serving certificate is required")
	}
	if c.TLS.ClientCAs == nil {
		return errors.New("agent server: the client CA (ClientCAs) is required")
	}
	if c.Runtime == nil {
		return errors.New("agent server: a container runtime is required")
	}
	return nil
}

func (c *Config) defaults() {
	if c.Address == "" {
		c.Address = ":10250"
	}
	if c.LogPollInterval == 0 {
		c.LogPollInterval = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the agent's HTTPS endpoint.
type Server struct {
	cfg     Config
	handler http.Handler
	// streams carries upgraded connections to the runtime's streaming
	// server (plain HTTP on loopback).
	streams *http.Transport
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	s := &Server{cfg: cfg, streams: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   -1,
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authorized(s.serveLogs))
	for _, p := range []string{"/exec/{namespace}/{pod}/{container}", "/exec/{namespace}/{pod}/{uid}/{container}"} {
		mux.Handle(p, s.authorized(s.serveExec))
	}
	for _, p := range []string{"/attach/{namespace}/{pod}/{container}", "/attach/{namespace}/{pod}/{uid}/{container}"} {
		mux.Handle(p, s.authorized(s.serveAttach))
	}
	for _, p := range []string{"/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"} {
		mux.Handle(p, s.authorized(s.servePortForward))
	}
	mux.Handle("GET /stats/summary", s.authorized(s.serveSummary))
	mux.Handle("/", s.authorized(http.NotFound))
	s.handler = mux
	return s, nil
}

// Handler returns the server's HTTP handler (it expects requests over TLS).
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves HTTPS until ctx ends. Streams in progress are cut.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Address); err != nil {
			return fmt.Errorf("agent server: listen %s: %w", s.cfg.Address, err)
		}
	}
	tlsCfg := s.cfg.TLS.Clone()
	tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
	// Upgrades (SPDY, WebSocket) need HTTP/1.1.
	tlsCfg.NextProtos = []string{"http/1.1"}
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	baseCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	s.cfg.Logger.Info("agent server listening", "address", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("agent server: %w", err)
	case <-ctx.Done():
	}
	// Requests in progress (followed logs, streams) end now.
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	s.streams.CloseIdleConnections()
	return nil
}

// authorized lets through requests from the API server (or a cluster
// administrator) only: 401 without a verified client certificate, 403
// for other identities.
func (s *Server) authorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			writeText(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		subject := r.TLS.PeerCertificates[0].Subject
		if subject.CommonName != APIServerClientCN && !slices.Contains(subject.Organization, mastersGroup) {
			writeText(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", subject.CommonName, verb(r)))
			return
		}
		next(w, r)
	})
}

func verb(r *http.Request) string {
	switch r.Method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return "get"
}

func (s *Server) serveSummary(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stats == nil {
		writeText(w, http.StatusServiceUnavailable, "stats are not available")
		return
	}
	only := queryBool(r.URL.Query(), "only_cpu_and_memory")
	sum, err := s.cfg.Stats.Summary(r.Context(), only)
	if err != nil {
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("Internal Error: failed to get stats summary: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(sum)
}

// httpError is an error with the HTTP status the agent answers it with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeError answers err as plain text, as the kubelet does; the API
// server turns it into a Status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	} else {
		s.cfg.Logger.Warn("agent request failed", "path", r.URL.Path, "err", err)
	}
	writeText(w, code, err.Error())
}

// writeText answers with a plain text message (no trailing newline, as the
// kubelet's errors).
func writeText(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprint(w, msg)
}
