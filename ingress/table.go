package ingress

import (
	"crypto/tls"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// table is one immutable routing state: built from the informers' caches
// by the builder, published with an atomic pointer swap and read without
// locks by every request. Only the endpoints' round-robin counters and
// passive-health marks inside backends change after publication.
type table struct {
	// exact holds the rules of exact hosts, wildcard those of "*.suffix"
	// hosts keyed by suffix, any those without a host.
	exact    map[string]*hostRoutes
	wildcard map[string]*hostRoutes
	any      *hostRoutes
	// def is the default backend (spec.defaultBackend of the oldest
	// Ingress that has one), nil if none.
	def *backend
	// certs maps TLS hosts (exact, or "*.suffix") to certificates.
	certs map[string]*tls.Certificate
	// backends by key, for carrying state over to the next table.
	backends map[string]*backend
}

// hostRoutes are the paths of one host, in precedence order: longest
// first, Exact before Prefix on equal length.
type hostRoutes struct {
	routes []route
}

// route is one path of a rule.
type route struct {
	// path is the path as written; prefix is the path without trailing
	// slashes, which Prefix matching ignores ("/" becomes "").
	path   string
	prefix string
	exact  bool
	// ingress is namespace/name of the Ingress the route comes from.
	ingress string
	backend *backend
}

// length is the route's precedence length.
func (r *route) length() int {
	if r.exact {
		return len(r.path)
	}
	return len(r.prefix)
}

// matches reports whether the request path p matches the route: Exact
// matches the path as is (case-sensitive), Prefix matches element-wise by
// "/"-separated segments (/foo matches /foo, /foo/ and /foo/bar, not
// /foobar).
func (r *route) matches(p string) bool {
	if r.exact {
		return p == r.path
	}
	if r.prefix == "" {
		return true
	}
	return strings.HasPrefix(p, r.prefix) && (len(p) == len(r.prefix) || p[len(r.prefix)] == '/')
}

// match returns the route of highest precedence matching p, or nil.
func (h *hostRoutes) match(p string) *route {
	if h == nil {
		return nil
	}
	for i := range h.routes {
		if h.routes[i].matches(p) {
			return &h.routes[i]
		}
	}
	return nil
}

// route finds the route for a request to host and path: the most
// specific host group with a matching path wins — the exact host, then
// the wildcard covering exactly the host's first label, then the rules
// without a host. Nil if nothing matches (the default backend's turn).
func (t *table) route(host, path string) *route {
	if path == "" {
		path = "/"
	}
	if hr := t.exact[host]; hr != nil {
		if r := hr.match(path); r != nil {
			return r
		}
	}
	if i := strings.IndexByte(host, '.'); i > 0 && len(t.wildcard) > 0 {
		if r := t.wildcard[host[i+1:]].match(path); r != nil {
			return r
		}
	}
	return t.any.match(path)
}

// certificate returns the certificate for a TLS server name: exact host,
// then the wildcard covering its first label. Nil if none.
func (t *table) certificate(name string) *tls.Certificate {
	if len(t.certs) == 0 || name == "" {
		return nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if c := t.certs[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return t.certs["*"+name[i:]]
	}
	return nil
}

// normalizeHost turns a request's Host header into a rule host: without
// port and trailing dot, lower case.
func normalizeHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// downFor is how long an endpoint that refused a connection is passed
// over (unless all are), until the EndpointSlices catch up.
const downFor = 2 * time.Second

// backend is a resolved Ingress backend: a Service port's ready
// endpoints, or why there are none.
type backend struct {
	// key identifies the backend across tables: "ns/service:port".
	key string
	// status is the answer when not routable (503), with reason.
	status int
	reason string
	// endpoints are "ip:port" of ready, non-terminating endpoints.
	endpoints []string
	// next is the round-robin counter.
	next atomic.Uint32
	// down[i] is the unix-nano time until which endpoints[i] is passed
	// over after a failed connection.
	down []atomic.Int64
}

// maxAttempts bounds the endpoints tried for one request.
const maxAttempts = 4

// order returns the endpoints to try for one request, round-robin: the
// next in turn first, then the following ones, endpoints recently marked
// down after the others. At most maxAttempts.
func (b *backend) order(buf []string) []string {
	n := len(b.endpoints)
	if n == 0 {
		return buf[:0]
	}
	start := int(b.next.Add(1)-1) % n
	if n == 1 {
		return append(buf[:0], b.endpoints[0])
	}
	now := time.Now().UnixNano()
	out := buf[:0]
	var skipped []int
	for k := 0; k < n && len(out) < maxAttempts; k++ {
		i := (start + k) % n
		if b.down[i].Load() > now {
			skipped = append(skipped, i)
			continue
		}
		out = append(out, b.endpoints[i])
	}
	for _, i := range skipped {
		if len(out) >= maxAttempts {
			break
		}
		out = append(out, b.endpoints[i])
	}
	return out
}

// markDown passes over ep for downFor.
func (b *backend) markDown(ep string) {
	for i, e := range b.endpoints {
		if e == ep {
			b.down[i].Store(time.Now().Add(downFor).UnixNano())
			return
		}
	}
}

// inherit carries the round-robin position and the down marks of the
// same backend in the previous table over.
func (b *backend) inherit(prev *backend) {
	if prev == nil {
		// Start somewhere random so that agents do not all begin with
		// the same pod.
		if n := len(b.endpoints); n > 1 {
			b.next.Store(uint32(rand.IntN(n)))
		}
		return
	}
	b.next.Store(prev.next.Load())
	for i, e := range b.endpoints {
		for j, pe := range prev.endpoints {
			if e == pe {
				b.down[i].Store(prev.down[j].Load())
				break
			}
		}
	}
}
