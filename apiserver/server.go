package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"

	"berth/apiserver/request"
)

// MaxBodyBytes is the largest request body accepted, as Kubernetes' 3 MiB.
const MaxBodyBytes = 3 * 1024 * 1024

// Config configures the API server.
type Config struct {
	// Scheme knows every served Go type.
	Scheme *runtime.Scheme
	// Resources are the served resources.
	Resources *Resources
	// Tokens authenticate bearer tokens, tried in order; none accepts only
	// client certificates.
	Tokens []TokenAuthenticator
	// Public, if set, lets more requests through without credentials
	// (besides health and version), e.g. anonymous image pulls.
	Public func(r *http.Request) bool
	// Authorizer decides what users may do. Nil allows every authenticated
	// user.
	Authorizer Authorizer
	// OpenAPI serves /openapi/v2 and /openapi/v3.
	OpenAPI http.Handler
	// Checks are the readiness checks of /readyz (and /healthz).
	Checks []Check
	// Metrics registers the server's metrics; /metrics serves it.
	Metrics *prometheus.Registry
	// Version is what /version reports.
	Version version.Info
	// AdvertiseAddress is the host:port clients reach the server at.
	AdvertiseAddress string
	// TLS is the serving configuration (certificate and client CAs).
	TLS *tls.Config
	// Listener, if set, is used instead of listening on Address.
	Listener net.Listener
	// Address is where to listen, e.g. ":6443".
	Address string
	// Profiling serves /debug/pprof to authenticated users, as Kubernetes'
	// --profiling does.
	Profiling bool
	// Extra handlers by path prefix (e.g. the registry's /v2/).
	Extra  map[string]http.Handler
	Logger *slog.Logger
}

// Check is a named readiness check.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Server is the HTTPS API server.
type Server struct {
	cfg     Config
	codecs  *codecs
	params  runtime.ParameterCodec
	metrics *metrics
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Scheme == nil || cfg.Resources == nil {
		return nil, errors.New("apiserver: Scheme and Resources are required")
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = AllowAuthenticated{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, codecs: newCodecs(cfg.Scheme), params: runtime.NewParameterCodec(cfg.Scheme), metrics: m}, nil
}

// Run serves HTTPS until ctx ends, then shuts down, letting requests in
// flight finish for a few seconds (watches are cut).
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Address); err != nil {
			return fmt.Errorf("listen %s: %w", s.cfg.Address, err)
		}
	}
	baseCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         s.cfg.TLS,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, s.cfg.TLS)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Long-running requests (watches) end now; others get a grace period.
	cancelRequests()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	return nil
}

// ServeHTTP authenticates, authorizes and routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	info := parseRequestInfo(r)
	ctx := request.WithInfo(r.Context(), info)
	ctx, warnings := request.WithWarnings(ctx)
	rec.warnings = warnings
	r = r.WithContext(ctx)
	defer func() { s.metrics.observe(info, rec.code, time.Since(start)) }()

	user, err := s.authenticate(r)
	if err != nil {
		s.cfg.Logger.Warn("authentication failed", "err", err)
	}
	if user == nil && !publicPath(r.URL.Path) && (s.cfg.Public == nil || !s.cfg.Public(r)) {
		s.writeError(rec, r, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	if user != nil {
		r = r.WithContext(request.WithUser(r.Context(), user))
		allowed, reason, err := s.cfg.Authorizer.Authorize(r.Context(), Attributes{User: user, Info: info})
		if err != nil || !allowed {
			s.writeError(rec, r, forbidden(user.Username, info, reason))
			return
		}
	}
	// Extra handlers (the image registry) take bodies of their own size;
	// API objects are bounded.
	if h := s.extra(r.URL.Path); h != nil {
		h.ServeHTTP(rec, r)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		s.writeError(rec, r, tooLarge())
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(rec, r.Body, MaxBodyBytes)
	}
	s.route(rec, r, info)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, info *request.Info) {
	p := r.URL.Path
	switch {
	case info.IsResourceRequest:
		s.serveResource(w, r, info)
		return
	case p == "/version" || p == "/version/":
		s.writeJSON(w, r, http.StatusOK, s.cfg.Version)
		return
	case p == "/metrics":
		promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		return
	case p == "/healthz" || p == "/livez" || p == "/readyz" || strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/"):
		s.serveHealth(w, r)
		return
	case strings.HasPrefix(p, "/debug/pprof") && s.cfg.Profiling:
		servePprof(w, r)
		return
	case strings.HasPrefix(p, "/openapi/") && s.cfg.OpenAPI != nil:
		s.cfg.OpenAPI.ServeHTTP(w, r)
		return
	}
	if parts := splitPath(p); len(parts) > 0 && (parts[0] == "api" || parts[0] == "apis") && r.Method == http.MethodGet {
		if s.serveDiscovery(w, r, parts) {
			return
		}
	}
	s.writeError(w, r, notFound())
}

// extra returns the Extra handler whose prefix p has, if any.
func (s *Server) extra(p string) http.Handler {
	for prefix, h := range s.cfg.Extra {
		if strings.HasPrefix(p, prefix) {
			return h
		}
	}
	return nil
}

func notFound() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", groupResourceNone, "", "the server could not find the requested resource", 0, false)
}

func tooLarge() error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", MaxBodyBytes))
}

func forbidden(user string, info *request.Info, reason string) error {
	msg := fmt.Sprintf("User %q cannot %s path %q", user, info.Verb, info.Path)
	if info.IsResourceRequest {
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q", user, info.Verb, info.Resource, info.APIGroup)
		if info.Namespace != "" {
			msg += fmt.Sprintf(" in the namespace %q", info.Namespace)
		} else {
			msg += " at the cluster scope"
		}
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(groupResourceOf(info), info.Name, errors.New(msg))
}

// statusRecorder remembers the response code and writes warnings before the
// header goes out.
type statusRecorder struct {
	http.ResponseWriter
	code     int
	wrote    bool
	warnings *request.Warnings
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote = true
		r.code = code
		if r.warnings != nil {
			for _, w := range r.warnings.List() {
				r.Header().Add("Warning", fmt.Sprintf("299 - %q", w))
			}
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// Flush lets watches stream.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
