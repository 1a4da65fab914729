package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"berth/internal/informer"
)

// debounce is how long a rebuild waits for more changes after the first.
const debounce = 10 * time.Millisecond

// Controller is the ingress controller of one node.
type Controller struct {
	cfg    Config
	logger *slog.Logger
	b      *builder
	synced []cache.InformerSynced

	// table is the routing state read by every request; refs what it
	// refers to, for filtering informer events.
	table atomic.Pointer[table]
	refs  atomic.Pointer[refs]
	// kick asks for a rebuild.
	kick chan struct{}
	// warned are the build warnings already logged.
	warned map[string]bool

	transport   *http.Transport
	proxy       *httputil.ReverseProxy
	defaultCert *tls.Certificate

	ready chan struct{}
	mu    sync.Mutex
	addrs ListenAddrs
}

// ListenAddrs are the addresses the controller serves on; nil when off.
type ListenAddrs struct {
	HTTP, HTTPS net.Addr
}

// New returns a controller and registers its informers with
// cfg.Informers; the caller starts the factory.
func New(cfg Config) (*Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cert, err := selfSigned(time.Now())
	if err != nil {
		return nil, fmt.Errorf("ingress: default certificate: %w", err)
	}
	c := &Controller{
		cfg:         cfg,
		logger:      cfg.Logger.With("component", "ingress"),
		kick:        make(chan struct{}, 1),
		warned:      map[string]bool{},
		transport:   newTransport(),
		defaultCert: cert,
		ready:       make(chan struct{}),
	}
	c.proxy = c.newReverseProxy()
	c.table.Store(&table{})
	c.refs.Store(&refs{})

	f := cfg.Informers
	ingresses := f.Networking().V1().Ingresses()
	classes := f.Networking().V1().IngressClasses()
	services := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
	secrets := f.Core().V1().Secrets()
	c.b = &builder{
		className:   cfg.ClassName,
		controller:  cfg.Controller,
		ingresses:   ingresses.Lister(),
		classLister: classes.Lister(),
		services:    services.Lister(),
		slices:      slices.Lister(),
		secrets:     secrets.Lister(),
		certs:       map[string]cachedCert{},
	}
	handlers := []struct {
		name     string
		informer cache.SharedIndexInformer
		relevant func(obj any) bool
	}{
		{"ingress", ingresses.Informer(), func(any) bool { return true }},
		{"ingressclass", classes.Informer(), func(any) bool { return true }},
		{"service", services.Informer(), func(obj any) bool {
			_, ok := c.refs.Load().services[objectKey(obj)]
			return ok
		}},
		{"endpointslice", slices.Informer(), c.sliceRelevant},
		{"secret", secrets.Informer(), func(obj any) bool {
			_, ok := c.refs.Load().secrets[objectKey(obj)]
			return ok
		}},
	}
	for _, h := range handlers {
		relevant := h.relevant
		if _, err := h.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if relevant(obj) {
					c.trigger()
				}
			},
			UpdateFunc: func(old, cur any) {
				if rv := resourceVersion(old); rv != "" && rv == resourceVersion(cur) {
					return // a resync: nothing changed
				}
				if relevant(old) || relevant(cur) {
					c.trigger()
				}
			},
			DeleteFunc: func(obj any) {
				if relevant(obj) {
					c.trigger()
				}
			},
		}); err != nil {
			return nil, fmt.Errorf("ingress: %s handler: %w", h.name, err)
		}
		c.synced = append(c.synced, h.informer.HasSynced)
	}
	return c, nil
}

// objectKey is "namespace/name" of an object or a tombstone.
func objectKey(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return key
}

func resourceVersion(obj any) string {
	if o, ok := obj.(interface{ GetResourceVersion() string }); ok {
		return o.GetResourceVersion()
	}
	return ""
}

// sliceRelevant: the slice belongs to a Service the Ingresses use.
func (c *Controller) sliceRelevant(obj any) bool {
	s, ok := informer.Object[*discoveryv1.EndpointSlice](obj)
	if !ok {
		return true
	}
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return false
	}
	_, ok = c.refs.Load().services[s.Namespace+"/"+svc]
	return ok
}

// trigger asks for a rebuild of the routing table.
func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Ready is closed once the caches have synced and the listeners serve.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Addrs returns the addresses served on; valid once Run has bound them
// (surely after Ready).
func (c *Controller) Addrs() ListenAddrs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs
}

// Run binds the listeners, waits for the caches, serves until ctx ends
// and then shuts the listeners down gracefully.
func (c *Controller) Run(ctx context.Context) error {
	httpLn, httpsLn, err := c.listen()
	if err != nil {
		return err
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		closeAll(httpLn, httpsLn)
		return nil
	}
	c.rebuild()

	// Requests' contexts derive from base, which is cancelled after the
	// graceful shutdown so that upgraded connections end too.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	var servers []*http.Server
	errc := make(chan error, 2)
	serve := func(ln net.Listener, https bool) {
		fe := &frontend{c: c, port: portOf(ln.Addr())}
		srv := &http.Server{
			Handler:           fe,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(c.logger.Handler(), slog.LevelDebug),
			BaseContext:       func(net.Listener) context.Context { return base },
		}
		if https {
			srv.TLSConfig = &tls.Config{
				GetCertificate: c.getCertificate,
				MinVersion:     tls.VersionTLS12,
			}
		}
		servers = append(servers, srv)
		go func() {
			var err error
			if https {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	if httpLn != nil {
		serve(httpLn, false)
	}
	if httpsLn != nil {
		serve(httpsLn, true)
	}
	c.logger.Info("serving ingresses", "class", c.cfg.ClassName, "http", addrString(httpLn), "https", addrString(httpsLn))
	close(c.ready)

	var runErr error
	running := len(servers)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			running--
			if err != nil {
				runErr = fmt.Errorf("ingress: serve: %w", err)
				break loop
			}
		case <-c.kick:
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(debounce):
			}
			select {
			case <-c.kick:
			default:
			}
			c.rebuild()
		}
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			c.logger.Warn("graceful shutdown", "err", err)
			srv.Close()
		}
	}
	cancelBase()
	for ; running > 0; running-- {
		if err := <-errc; err != nil && runErr == nil {
			runErr = fmt.Errorf("ingress: serve: %w", err)
		}
	}
	c.transport.CloseIdleConnections()
	c.logger.Info("stopped serving ingresses")
	return runErr
}

// listen binds the configured listeners.
func (c *Controller) listen() (httpLn, httpsLn net.Listener, err error) {
	open := func(ln net.Listener, off bool, addr string) (net.Listener, error) {
		if ln != nil || off {
			return ln, nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("ingress: listen: %w", err)
		}
		return l, nil
	}
	if httpLn, err = open(c.cfg.HTTPListener, c.cfg.DisableHTTP, c.cfg.HTTPAddr); err != nil {
		closeAll(c.cfg.HTTPSListener)
		return nil, nil, err
	}
	if httpsLn, err = open(c.cfg.HTTPSListener, c.cfg.DisableHTTPS, c.cfg.HTTPSAddr); err != nil {
		closeAll(httpLn)
		return nil, nil, err
	}
	c.mu.Lock()
	if httpLn != nil {
		c.addrs.HTTP = httpLn.Addr()
	}
	if httpsLn != nil {
		c.addrs.HTTPS = httpsLn.Addr()
	}
	c.mu.Unlock()
	return httpLn, httpsLn, nil
}

func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

func portOf(a net.Addr) string {
	if _, port, err := net.SplitHostPort(a.String()); err == nil {
		return port
	}
	return ""
}

func addrString(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// rebuild makes a new routing table from the caches and publishes it.
func (c *Controller) rebuild() {
	start := time.Now()
	prev := c.table.Load()
	t, warnings, err := c.b.build(prev, func(r *refs) { c.refs.Store(r) })
	if err != nil {
		c.logger.Error("build routing table", "err", err)
		return
	}
	c.table.Store(t)
	current := make(map[string]bool, len(warnings))
	for _, w := range warnings {
		current[w] = true
		if !c.warned[w] {
			c.logger.Warn("ingress not served as asked", "problem", w)
		}
	}
	c.warned = current
	c.logger.Debug("routing table rebuilt", "hosts", len(t.exact)+len(t.wildcard), "backends", len(t.backends), "certificates", len(t.certs), "took", time.Since(start))
}
