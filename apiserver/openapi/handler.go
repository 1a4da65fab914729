package openapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// Content types of the documents.
const (
	mimeV2Protobuf           = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2ProtobufDeprecated = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeV3Protobuf           = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mimeV3ProtobufDeprecated = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

// Handler serves /openapi/v2, /openapi/v3 and /openapi/v3/{path...}.
type Handler struct {
	scheme    *runtime.Scheme
	resources func() []Resource

	mu  sync.Mutex
	gen *generation
}

var _ http.Handler = (*Handler)(nil)

// New returns a handler serving /openapi/v2, /openapi/v3 and
// /openapi/v3/{path...}. resources is called to learn the current set; the
// documents are built lazily on first request and rebuilt when Invalidate
// is called (resources can be added at run time, e.g.
// CustomResourceDefinitions later). The Go types of the resources' kinds
// are looked up in scheme.
func New(scheme *runtime.Scheme, resources func() []Resource) *Handler {
	h := &Handler{scheme: scheme, resources: resources}
	h.gen = h.newGeneration()
	return h
}

// Invalidate drops the documents; the next request rebuilds them from the
// current resources. Documents whose content did not change keep their
// hash, so clients' caches stay valid.
func (h *Handler) Invalidate() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen = h.newGeneration()
}

func (h *Handler) newGeneration() *generation {
	return &generation{scheme: h.scheme, listResource: h.resources}
}

func (h *Handler) current() *generation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// ServeHTTP serves the documents.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/openapi/v2":
		h.serveV2(w, r)
	case path == "/openapi/v3":
		h.serveV3Index(w, r)
	case strings.HasPrefix(path, "/openapi/v3/"):
		h.serveV3Doc(w, r, strings.TrimPrefix(path, "/openapi/v3/"))
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) serveV2(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	mime, ok := negotiate(r.Header.Get("Accept"), mimeJSON, mimeV2Protobuf, mimeV2ProtobufDeprecated)
	if !ok {
		http.Error(w, "none of the accepted types is served: use application/json or "+mimeV2Protobuf, http.StatusNotAcceptable)
		return
	}
	g := h.current()
	var b *blob
	var err error
	if mime == mimeJSON {
		b, err = g.v2JSON()
	} else {
		mime = mimeV2Protobuf
		b, err = g.v2Proto()
	}
	if err != nil {
		serverError(w, "openapi v2", err)
		return
	}
	serveBlob(w, r, b, mime)
}

func (h *Handler) serveV3Index(w http.ResponseWriter, r *http.Request) {
	b, err := h.current().v3Index()
	if err != nil {
		serverError(w, "openapi v3 index", err)
		return
	}
	serveBlob(w, r, b, mimeJSON)
}

func (h *Handler) serveV3Doc(w http.ResponseWriter, r *http.Request, key string) {
	w.Header().Add("Vary", "Accept")
	mime, ok := negotiate(r.Header.Get("Accept"), mimeJSON, mimeV3Protobuf, mimeV3ProtobufDeprecated)
	if !ok {
		http.Error(w, "none of the accepted types is served: use application/json or "+mimeV3Protobuf, http.StatusNotAcceptable)
		return
	}
	protobuf := mime != mimeJSON
	if protobuf {
		mime = mimeV3Protobuf
	}
	b, err := h.current().v3Doc(key, protobuf)
	if err != nil {
		serverError(w, "openapi v3 "+key, err)
		return
	}
	if b == nil {
		http.NotFound(w, r)
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != b.etag {
			// An old hash: send the client to the current document.
			http.Redirect(w, r, v3URL(key, b.etag), http.StatusMovedPermanently)
			return
		}
		// The URL names this exact content: it never changes.
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	serveBlob(w, r, b, mime)
}

// serveBlob writes a document with its ETag, answering conditional
// requests, and gzip-compressed when the client accepts it.
func serveBlob(w http.ResponseWriter, r *http.Request, b *blob, mime string) {
	h := w.Header()
	h.Set("Content-Type", mime)
	h.Set("Etag", strconv.Quote(b.etag))
	data := b.data
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if gz := b.gzipped(); gz != nil {
			data = gz
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Add("Vary", "Accept-Encoding")
	http.ServeContent(w, r, "", b.modified, bytes.NewReader(data))
}

func serverError(w http.ResponseWriter, what string, err error) {
	slog.Error("openapi: build document", "document", what, "err", err)
	http.Error(w, "building the "+what+" document failed", http.StatusInternalServerError)
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && quality(params) > 0 {
			return true
		}
	}
	return false
}

// negotiate picks, from the types a document is offered in (the first is
// the default), the one the Accept header prefers. Wildcards match the
// first offer they cover.
func negotiate(accept string, offers ...string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return offers[0], true
	}
	type clause struct {
		typ string
		q   float64
	}
	var clauses []clause
	for _, part := range strings.Split(accept, ",") {
		typ, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if q := quality(params); q > 0 {
			clauses = append(clauses, clause{strings.ToLower(strings.TrimSpace(typ)), q})
		}
	}
	sort.SliceStable(clauses, func(i, j int) bool { return clauses[i].q > clauses[j].q })
	for _, c := range clauses {
		for _, offer := range offers {
			if c.typ == offer || c.typ == "*/*" || c.typ == "application/*" {
				return offer, true
			}
		}
	}
	return "", false
}

// quality reads q= from media-type or coding parameters (1 if absent).
func quality(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.TrimSpace(k) == "q" {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return q
		}
	}
	return 1
}
