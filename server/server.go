package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"berth/apiserver"
	"berth/apiserver/bootstrap"
	"berth/apiserver/nodeproxy"
	"berth/apiserver/openapi"
	"berth/apiserver/registry"
	"berth/apiserver/registry/generic"
	satoken "berth/apiserver/serviceaccount"
	"berth/pki"
	imageregistry "berth/registry"
	"berth/store/cache"
	"berth/store/etcd"
)

// Root is the etcd key prefix of every API object.
const Root = "/registry/"

// Server is a berth control plane: etcd, the API server and (later) the
// scheduler and controllers.
type Server struct {
	cfg       Config
	scheme    *runtime.Scheme
	services  *services
	signer    *satoken.Signer
	nodeProxy *nodeproxy.Proxy

	mu        sync.Mutex
	ready     chan struct{}
	builtins  chan struct{}
	addr      string
	resources *apiserver.Resources
	stores    map[string]*generic.Store // by group/resource
	wiring    *wiring                   // what new stores are built from
}

// wiring holds what a resource's store is built from, so that resources
// can be added while the server runs.
type wiring struct {
	ctx    context.Context
	feed   *cache.Feed
	client *clientv3.Client
	leases *etcd.Leases
	tc     typeConv
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	// Options, watch events and Status under "v1", and the meta.k8s.io
	// types (Table, PartialObjectMetadata), as every API server has.
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, scheme: scheme, ready: make(chan struct{}), builtins: make(chan struct{}), stores: map[string]*generic.Store{}}, nil
}

// Ready is closed once the API server answers.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Address returns the API server's host:port once ready.
func (s *Server) Address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// KubeconfigPath is where the admin kubeconfig is written.
func (s *Server) KubeconfigPath() string { return filepath.Join(s.cfg.DataDir, "admin.kubeconfig") }

// Run starts everything and blocks until ctx ends, then stops cleanly.
func (s *Server) Run(ctx context.Context) error {
	log := s.cfg.Logger
	start := time.Now()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	certs, err := s.setupPKI(port)
	if err != nil {
		return err
	}
	if s.nodeProxy, err = s.newNodeProxy(certs.ca); err != nil {
		return err
	}
	defer s.nodeProxy.Close()
	if s.signer, err = satoken.NewSigner(satoken.Config{KeyFile: filepath.Join(s.cfg.DataDir, "tls", "service-account.key")}); err != nil {
		return err
	}

	client, closeEtcd, err := s.connectEtcd(ctx)
	if err != nil {
		return err
	}
	defer closeEtcd()

	// Everything below stops in order once ctx ends (see the end of Run),
	// not all at once.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	feed := cache.NewFeed(cache.Config{
		Client: client, Root: Root, History: s.cfg.WatchHistory,
		BookmarkInterval: s.cfg.BookmarkInterval, Logger: log,
	})
	if err := feed.Start(runCtx); err != nil {
		return err
	}
	s.services = newServices(client, s.cfg)
	resources := apiserver.NewResources()
	s.resources = resources
	leases := etcd.NewLeases(client)
	tc, err := typeConverter(s.scheme)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.wiring = &wiring{ctx: runCtx, feed: feed, client: client, leases: leases, tc: tc}
	s.mu.Unlock()
	for _, r := range s.builtinResources() {
		if err := s.AddResource(r); err != nil {
			return err
		}
	}
	if err := s.bootstrap(runCtx, port, certs.ca); err != nil {
		return err
	}

	images, err := s.openRegistry()
	if err != nil {
		return fmt.Errorf("image registry: %w", err)
	}
	// The built-in images are written in the background: Run returns
	// only once that is done, so that nothing writes to the data dir after.
	defer func() { <-s.builtins }()
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	oapi := openapi.New(s.scheme, openapiResources(resources))
	resources.OnChange(oapi.Invalidate)
	bootstrapTokens, err := s.bootstrapTokens()
	if err != nil {
		return err
	}
	api, err := apiserver.New(apiserver.Config{
		Scheme:           s.scheme,
		Resources:        resources,
		Tokens:           []apiserver.TokenAuthenticator{satoken.NewAuthenticator(s.signer, tokenObjects{s}), bootstrapTokens},
		Authorizer:       bootstrap.Authorizer{Next: apiserver.AllowAuthenticated{}},
		Public:           func(r *http.Request) bool { return imageregistry.IsRead(r) || bootstrap.PublicClusterInfo(r) },
		Extra:            map[string]http.Handler{"/v2/": images},
		OpenAPI:          oapi,
		Metrics:          metrics,
		Version:          Version(),
		AdvertiseAddress: net.JoinHostPort(s.advertiseIP(), strconv.Itoa(port)),
		TLS:              certs.serving,
		Profiling:        s.cfg.Profiling,
		Listener:         ln,
		Checks: []apiserver.Check{{Name: "etcd", Check: func(ctx context.Context) error {
			_, err := client.Get(ctx, "health", clientv3.WithCountOnly())
			return err
		}}},
		Logger: log,
	})
	if err != nil {
		return err
	}
	go s.compact(runCtx, client)

	errc := make(chan error, 1)
	go func() { errc <- api.Run(runCtx) }()

	// The controllers and the scheduler are clients of the API server; they
	// stop before it does, so that they can release their leases.
	ctrlCtx, stopControllers := context.WithCancel(runCtx)
	defer stopControllers()
	var components sync.WaitGroup
	if err := s.startComponents(ctrlCtx, &components, certs.ca, port); err != nil {
		return err
	}

	s.mu.Lock()
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.mu.Unlock()
	close(s.ready)
	log.Info("api server ready", "address", ln.Addr().String(), "kubeconfig", s.KubeconfigPath(), "startup", time.Since(start).Round(time.Millisecond))

	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("api server: %w", err)
		}
	case <-ctx.Done():
		stopControllers()
		waitTimeout(&components, 5*time.Second)
		cancel()
		<-errc
	}
	log.Info("api server stopped")
	return nil
}

// startComponents starts the controller manager and the scheduler.
func (s *Server) startComponents(ctx context.Context, wg *sync.WaitGroup, ca *pki.CA, port int) error {
	cm, err := loopbackConfig(ca, port, controllerManagerUser)
	if err != nil {
		return err
	}
	if _, err := enabledControllers(s.cfg.Controllers, s.cfg, ca); err != nil {
		return err
	}
	if !s.cfg.DisableControllers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.runControllers(ctx, cm, ca); err != nil {
				s.cfg.Logger.Error("controller manager", "err", err)
			}
		}()
	}
	if s.cfg.DisableScheduler {
		return nil
	}
	sc, err := loopbackConfig(ca, port, schedulerUser)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.runScheduler(ctx, sc); err != nil {
			s.cfg.Logger.Error("scheduler", "err", err)
		}
	}()
	return nil
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// AddResource starts serving a resource: its etcd store, its watch cache
// and the generic store that serves it; discovery and OpenAPI follow at
// once. It may be called while the server runs (custom resources).
// Resources without Go types (unstructured objects) get no managedFields.
func (s *Server) AddResource(r *registry.Resource) error {
	s.mu.Lock()
	w := s.wiring
	s.mu.Unlock()
	if w == nil {
		return errors.New("add resource: the server is not running")
	}
	tc := w.tc
	if _, err := s.scheme.New(r.GroupVersionKind()); err != nil {
		tc = nil
	}
	st, err := s.newStore(w.ctx, w.feed, w.client, w.leases, tc, r)
	if err != nil {
		return err
	}
	s.resources.Add(st)
	return nil
}

// newStore wires one resource: its etcd store, its watch cache and the
// generic store that serves it.
func (s *Server) newStore(ctx context.Context, feed *cache.Feed, client *clientv3.Client, leases *etcd.Leases, tc typeConv, r *registry.Resource) (*generic.Store, error) {
	storage := r
	gr := r.GroupResource()
	if r.Storage != nil {
		owner := s.store(r.Storage.Resource.String())
		if owner == nil {
			return nil, fmt.Errorf("%s: shared storage %s is not registered before it", gr, r.Storage.Resource)
		}
		storage = owner.Resource()
		gr = r.Storage.Resource
	}
	group := gr.Group
	if group == "" {
		group = "core"
	}
	prefix := Root + group + "/" + gr.Resource + "/"
	es := etcd.New(client, generic.StorageCodec(storage, s.scheme), leases)
	c, err := feed.Register(ctx, prefix, es, storage.New)
	if err != nil {
		return nil, fmt.Errorf("watch cache for %s: %w", gr, err)
	}
	st, err := generic.New(generic.Config{
		Resource: r, Storage: c, Prefix: prefix, Scheme: s.scheme, TypeConverter: tc,
		Mutation: s.mutatingAdmission(), Admission: s.validatingAdmission(),
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.stores[r.GroupResource().String()] = st
	s.mu.Unlock()
	return st, nil
}

// store returns the generic store of a group/resource such as "namespaces"
// or "deployments.apps".
func (s *Server) store(groupResource string) *generic.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stores[groupResource]
}

// connectEtcd starts the embedded etcd or connects to the external one.
func (s *Server) connectEtcd(ctx context.Context) (*clientv3.Client, func(), error) {
	if len(s.cfg.EtcdEndpoints) > 0 {
		c, err := clientv3.New(clientv3.Config{Endpoints: s.cfg.EtcdEndpoints, DialTimeout: 5 * time.Second, Context: ctx})
		if err != nil {
			return nil, nil, fmt.Errorf("connect etcd %v: %w", s.cfg.EtcdEndpoints, err)
		}
		return c, func() { c.Close() }, nil
	}
	e, err := etcd.StartEmbedded(ctx, filepath.Join(s.cfg.DataDir, "etcd"))
	if err != nil {
		return nil, nil, err
	}
	return e.Client(), e.Close, nil
}

// compact drops etcd revisions older than one interval, as Kubernetes does:
// each tick compacts to the revision seen at the tick before.
func (s *Server) compact(ctx context.Context, client *clientv3.Client) {
	if s.cfg.EtcdCompactionInterval == 0 {
		return
	}
	t := time.NewTicker(s.cfg.EtcdCompactionInterval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := client.Get(ctx, "compact_rev_key", clientv3.WithCountOnly())
		if err != nil {
			continue
		}
		if last > 0 {
			if _, err := client.Compact(ctx, last); err != nil && !etcd.IsCompacted(err) {
				s.cfg.Logger.Warn("etcd compaction", "revision", last, "err", err)
			}
		}
		last = resp.Header.Revision
	}
}

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }
