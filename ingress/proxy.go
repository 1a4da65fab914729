package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// Transport settings for the connections to pods.
const (
	// dialTimeout bounds connecting to a pod; a pod that does not answer
	// in time is treated like one that refused.
	dialTimeout = 3 * time.Second
	// idleConnTimeout is kept below the 5s keep-alive timeout of common
	// servers (Node.js) so that the proxy rarely reuses a connection the
	// pod is closing.
	idleConnTimeout = 4 * time.Second
	// maxIdlePerEndpoint bounds the idle connections kept to one pod.
	maxIdlePerEndpoint = 64
)

// newTransport makes the pooled keep-alive transport to pods. Failed dials
// are marked with dialError so that the retrying transport knows nothing
// was sent.
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err: err}
			}
			return c, nil
		},
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   maxIdlePerEndpoint,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
		// Pass the client's Accept-Encoding and the pod's encoding
		// through untouched.
		DisableCompression: true,
	}
}

// dialError is a failure to connect: no byte of the request was sent.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// exchange is the state of one proxied request, allocated once: the
// response writer that counts for the request log, and what the transport
// chose.
type exchange struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool

	port     string // the listener's, for X-Forwarded-Port
	backend  *backend
	route    *route
	endpoint string // last endpoint tried
	attempts int
	err      error
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

func (x *exchange) WriteHeader(code int) {
	if x.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		x.status = code
	}
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(p []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	n, err := x.ResponseWriter.Write(p)
	x.bytes += int64(n)
	return n, err
}

// Flush and FlushError let http.ResponseController flush streams.
func (x *exchange) FlushError() error { return http.NewResponseController(x.ResponseWriter).Flush() }

// Hijack hands the connection over for protocol upgrades (WebSocket).
func (x *exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(x.ResponseWriter).Hijack()
	if err == nil {
		x.hijacked = true
		if x.status == 0 {
			x.status = http.StatusSwitchingProtocols
		}
	}
	return c, rw, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// frontend is the handler of one listener.
type frontend struct {
	c *Controller
	// port is the listener's port, for X-Forwarded-Port.
	port string
}

func (f *frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t := f.c.table.Load()
	x := &exchange{ResponseWriter: w, port: f.port}
	defer f.c.logRequest(r, x, start)

	x.route = t.route(normalizeHost(r.Host), r.URL.Path)
	if x.route != nil {
		x.backend = x.route.backend
	} else {
		x.backend = t.def
	}
	switch be := x.backend; {
	case be == nil:
		http.Error(x, "404 page not found", http.StatusNotFound)
		return
	case be.status != 0:
		http.Error(x, http.StatusText(be.status)+": "+be.reason, be.status)
		return
	}
	f.c.proxy.ServeHTTP(x, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
}

// newReverseProxy makes the proxy shared by all requests: the inbound Host
// header is kept; X-Forwarded-For/-Host/-Proto/-Port are set, replacing
// what the client sent (it is not trusted, as by default in ingress-nginx
// and traefik); streams of unknown length and event streams are flushed
// at once; Upgrade requests are passed through.
func (c *Controller) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			if x := exchangeFrom(pr.In.Context()); x != nil {
				pr.Out.Header.Set("X-Forwarded-Port", x.port)
			}
			// The endpoint is chosen by the transport.
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "endpoint.invalid"
		},
		Transport:    &retryTransport{base: c.transport},
		BufferPool:   &bufferPool{},
		ErrorHandler: c.proxyError,
		ErrorLog:     slog.NewLogLogger(c.logger.Handler(), slog.LevelDebug),
	}
}

// proxyError answers a request the pods could not: 502, or 504 when
// connecting or answering timed out.
func (c *Controller) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	if x == nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	x.err = err
	if x.hijacked || x.status != 0 {
		return
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		x.status = 499
		return
	}
	status := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	http.Error(x, http.StatusText(status), status)
}

// retryTransport sends a request to the endpoints of its backend, in
// round-robin order, moving on to the next endpoint while connecting
// fails and no byte of the request body has been read. It also lets
// http.Transport replay a request whose body is still unread when a
// reused keep-alive connection turns out to be closed.
type retryTransport struct {
	base http.RoundTripper
}

var errBodyConsumed = errors.New("request body already partly sent")

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	x := exchangeFrom(req.Context())
	if x == nil || x.backend == nil {
		return nil, errors.New("ingress: request without backend")
	}
	var body *countingBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &countingBody{rc: req.Body}
	}
	var buf [maxAttempts]string
	order := x.backend.order(buf[:])
	var err error
	for _, ep := range order {
		x.endpoint = ep
		x.attempts++
		out := *req
		u := *req.URL
		u.Host = ep
		out.URL = &u
		if body != nil {
			out.Body = body
			out.GetBody = body.rewind
		}
		var res *http.Response
		res, err = t.base.RoundTrip(&out)
		if err == nil {
			return res, nil
		}
		var de *dialError
		if !errors.As(err, &de) || req.Context().Err() != nil {
			return nil, err
		}
		x.backend.markDown(ep)
		if body != nil && body.n.Load() > 0 {
			return nil, err
		}
	}
	return nil, err
}

// countingBody wraps a request body: it counts what was read, so that a
// request is only sent again while nothing of it was, and ignores Close
// (the transport closes the body of a failed attempt; the server closes
// the inbound body when the handler returns).
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

func (b *countingBody) rewind() (io.ReadCloser, error) {
	if b.n.Load() > 0 {
		return nil, errBodyConsumed
	}
	return b, nil
}

// bufferPool recycles the 32 KiB copy buffers of the proxy.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32*1024)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// logRequest writes the one info line of a request.
func (c *Controller) logRequest(r *http.Request, x *exchange, start time.Time) {
	ctx := r.Context()
	if !c.logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.Int("status", x.status),
		slog.Int64("bytes", x.bytes),
		slog.Duration("duration", time.Since(start)),
	)
	if x.route != nil {
		attrs = append(attrs, slog.String("ingress", x.route.ingress))
	}
	if x.backend != nil {
		attrs = append(attrs, slog.String("backend", x.backend.key))
	}
	if x.endpoint != "" {
		attrs = append(attrs, slog.String("endpoint", x.endpoint))
	}
	if x.attempts > 1 {
		attrs = append(attrs, slog.Int("attempts", x.attempts))
	}
	if x.err != nil {
		attrs = append(attrs, slog.String("err", x.err.Error()))
	}
	c.logger.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}
