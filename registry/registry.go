package registry

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Config configures a Registry.
type Config struct {
	// Dir holds the registry's content (required), e.g. DATA_DIR/registry.
	Dir string
	// Logger receives the registry's logs; default: discarded.
	Logger *slog.Logger
	// UploadTTL is how long an unfinished upload is kept across restarts;
	// older ones are removed when the registry starts. Default 24h.
	UploadTTL time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("registry: Dir is required")
	}
	return nil
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.UploadTTL == 0 {
		c.UploadTTL = 24 * time.Hour
	}
}

// Registry is an OCI distribution registry storing its content in a
// directory. It is an http.Handler for paths below /v2/.
type Registry struct {
	store   *store
	log     *slog.Logger
	uploads keyedMutex
}

var _ http.Handler = (*Registry)(nil)

// New opens (or creates) the registry in cfg.Dir.
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	s := &store{dir: cfg.Dir}
	if err := s.init(); err != nil {
		return nil, err
	}
	r := &Registry{store: s, log: cfg.Logger}
	r.removeStaleUploads(cfg.UploadTTL)
	return r, nil
}

// removeStaleUploads drops uploads untouched for longer than ttl.
func (r *Registry) removeStaleUploads(ttl time.Duration) {
	dir := filepath.Join(r.store.dir, "uploads")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > ttl {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// ServeHTTP serves the distribution API below /v2/.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(req.URL.Path)
	if !ok {
		r.writeError(w, req, newError(http.StatusNotFound, codeNameInvalid, "no such registry endpoint"))
		return
	}
	if rt.kind != routeBase && rt.kind != routeCatalog && !validName(rt.name) {
		r.writeError(w, req, &apiError{Status: http.StatusBadRequest, Code: codeNameInvalid, Message: "invalid repository name", Detail: rt.name})
		return
	}
	var err error
	switch rt.kind {
	case routeBase:
		err = r.serveBase(w, req)
	case routeCatalog:
		err = only(req, http.MethodGet)
		if err == nil {
			err = r.serveCatalog(w, req)
		}
	case routeTags:
		err = only(req, http.MethodGet)
		if err == nil {
			err = r.serveTags(w, req, rt.name)
		}
	case routeManifest:
		err = r.serveManifest(w, req, rt)
	case routeBlob:
		err = r.serveBlob(w, req, rt)
	case routeUploads:
		err = only(req, http.MethodPost)
		if err == nil {
			err = r.startUpload(w, req, rt.name)
		}
	case routeUpload:
		err = r.serveUpload(w, req, rt)
	case routeReferrers:
		err = only(req, http.MethodGet)
		if err == nil {
			err = r.serveReferrers(w, req, rt)
		}
	}
	if err != nil {
		r.writeError(w, req, err)
	}
}

// only refuses a method other than the allowed ones.
func only(req *http.Request, methods ...string) error {
	for _, m := range methods {
		if req.Method == m || (m == http.MethodGet && req.Method == http.MethodHead) {
			return nil
		}
	}
	return newError(http.StatusMethodNotAllowed, codeUnsupported, "the operation is unsupported")
}

// serveBase answers the version check: this is a v2 registry.
func (r *Registry) serveBase(w http.ResponseWriter, req *http.Request) error {
	if err := only(req, http.MethodGet); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		io.WriteString(w, "{}")
	}
	return nil
}
