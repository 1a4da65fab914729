package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/knftables"

	"berth/internal/informer"
)

// staleChainDelay is how long a chain that fell out of use stays
// (flushed) before it is deleted: kernels before 6.2 release a chain's
// references from map elements only some time after the elements go.
const staleChainDelay = time.Second

// SyncResult describes one sync.
type SyncResult struct {
	// Start and End bound the sync; End is when the kernel had the
	// rules (or the attempt failed).
	Start, End time.Time
	// Full: the table was rebuilt from scratch.
	Full bool
	// Transaction: a transaction was sent (false when nothing changed).
	Transaction bool
	// Operations is the number of operations in the transaction.
	Operations int
	// Services are the Services whose rules were rewritten.
	Services []types.NamespacedName
	// Changes maps every Service this sync accounted for to when its
	// first change not yet synced was observed (its informer event):
	// End minus that is the network programming latency.
	Changes map[types.NamespacedName]time.Time
	// Err is the failure, if any; a failed sync is retried as a full
	// one.
	Err error
}

// Stats counts syncs.
type Stats struct {
	// Syncs are successful syncs, Transactions those that sent one,
	// FullSyncs those that rebuilt the table, Failures the failed ones.
	Syncs, Transactions, FullSyncs, Failures uint64
}

// Proxier keeps an nftables table implementing the cluster's Services on
// this node.
type Proxier struct {
	cfg    Config
	nft    knftables.Interface
	ct     Conntrack
	logger *slog.Logger
	r      renderer
	synced []cache.InformerSynced
	ready  chan struct{}
	// trigger wakes the sync loop.
	trigger chan struct{}

	// mu guards what the informer handlers write.
	mu       sync.Mutex
	services map[types.NamespacedName]*corev1.Service
	slices   map[types.NamespacedName]map[string]*discoveryv1.EndpointSlice
	dirty    map[types.NamespacedName]time.Time
	needFull bool
	// gen counts handler events; applied is the gen the kernel reflects.
	gen     uint64
	applied atomic.Uint64

	// syncMu serializes syncs and Cleanup; it guards k and the timers.
	syncMu     sync.Mutex
	k          *kernel
	staleDelay time.Duration
	staleTimer *time.Timer

	stats struct{ syncs, transactions, full, failures atomic.Uint64 }

	// health serves the healthCheckNodePorts.
	health *healthChecks
}

// New returns a Proxier and registers its informers' handlers. It runs
// nothing: call Run.
func New(cfg Config) (*Proxier, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxier{
		cfg:        cfg,
		nft:        cfg.NFT,
		ct:         cfg.Conntrack,
		logger:     cfg.Logger.With("component", "proxy", "table", cfg.Table),
		ready:      make(chan struct{}),
		trigger:    make(chan struct{}, 1),
		services:   map[types.NamespacedName]*corev1.Service{},
		slices:     map[types.NamespacedName]map[string]*discoveryv1.EndpointSlice{},
		dirty:      map[types.NamespacedName]time.Time{},
		needFull:   true,
		k:          newKernel(),
		staleDelay: staleChainDelay,
	}
	p.health = newHealthChecks(cfg.HealthCheckListen, p.logger)
	p.r = renderer{nodeName: cfg.NodeName, zone: cfg.Zone, clusterCIDR: cfg.ClusterCIDR.Masked()}
	for _, ip := range cfg.NodeIPs {
		if ip = ip.Unmap(); ip.Is4() {
			p.r.nodeIPs = append(p.r.nodeIPs, ip)
		}
	}
	if p.nft == nil {
		nft, err := knftables.New(knftables.IPv4Family, cfg.Table)
		if err != nil {
			return nil, fmt.Errorf("proxy: nftables: %w", err)
		}
		p.nft = nft
	}
	if p.ct == nil {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return nil, fmt.Errorf("proxy: conntrack netlink handle: %w", err)
		}
		p.ct = h
	}

	svcs := cfg.Informers.Core().V1().Services().Informer()
	reg, err := svcs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onService,
		UpdateFunc: func(_, obj any) { p.onService(obj) },
		DeleteFunc: p.onServiceDelete,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: service handler: %w", err)
	}
	p.synced = append(p.synced, reg.HasSynced)
	slices := cfg.Informers.Discovery().V1().EndpointSlices().Informer()
	reg, err = slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.onSlice(nil, obj) },
		UpdateFunc: p.onSlice,
		DeleteFunc: p.onSliceDelete,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: endpointslice handler: %w", err)
	}
	p.synced = append(p.synced, reg.HasSynced)
	return p, nil
}

// Ready is closed once the first sync is in the kernel.
func (p *Proxier) Ready() <-chan struct{} { return p.ready }

// Stats returns the sync counters.
func (p *Proxier) Stats() Stats {
	return Stats{
		Syncs:        p.stats.syncs.Load(),
		Transactions: p.stats.transactions.Load(),
		FullSyncs:    p.stats.full.Load(),
		Failures:     p.stats.failures.Load(),
	}
}

// Run keeps the table in sync until ctx ends. It leaves the rules in
// place when it returns, as kube-proxy does: Services keep working while
// the agent restarts. Call Cleanup to remove them.
func (p *Proxier) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return nil
	}
	p.logger.Info("starting service proxy")
	defer p.logger.Info("stopping service proxy")
	defer p.stopTimers()
	defer p.health.closeAll()

	check := time.NewTicker(p.cfg.SyncPeriod)
	defer check.Stop()
	retry := time.NewTimer(0) // the first sync
	defer retry.Stop()
	backoff := 100 * time.Millisecond
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.trigger:
		case <-retry.C:
		case <-check.C:
			p.check(ctx)
		}
		if wait := p.cfg.MinSyncPeriod - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		last = time.Now()
		res := p.sync(ctx)
		if res.Err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.logger.Error("sync failed; will rebuild the table", "err", res.Err, "retry", backoff)
			retry.Reset(backoff)
			backoff = min(2*backoff, p.cfg.SyncPeriod)
			continue
		}
		backoff = 100 * time.Millisecond
		select {
		case <-p.ready:
		default:
			close(p.ready)
			p.logger.Info("service proxy ready", "took", res.End.Sub(res.Start))
		}
	}
}

// Cleanup deletes the proxy's table (and with it every rule it made). The
// agent calls it on a clean shutdown that also stops the pods. A Run
// still going would rebuild the table at its next sync.
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	tx := p.nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	if err := p.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("proxy: delete table %s: %w", p.cfg.Table, err)
	}
	p.k = newKernel()
	p.mu.Lock()
	p.needFull = true
	p.mu.Unlock()
	return nil
}

// signal wakes the sync loop.
func (p *Proxier) signal() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// markDirty records a change to key's Service or endpoints; p.mu held.
func (p *Proxier) markDirty(key types.NamespacedName) {
	p.gen++
	if _, ok := p.dirty[key]; !ok {
		p.dirty[key] = time.Now()
	}
}

func (p *Proxier) onService(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	p.mu.Lock()
	p.services[key] = svc
	p.markDirty(key)
	p.mu.Unlock()
	p.signal()
}

func (p *Proxier) onServiceDelete(obj any) {
	svc, ok := informer.Object[*corev1.Service](obj)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	p.mu.Lock()
	delete(p.services, key)
	p.markDirty(key)
	p.mu.Unlock()
	p.signal()
}

// sliceService is the Service an EndpointSlice belongs to; ok is false
// for slices the proxy ignores.
func sliceService(es *discoveryv1.EndpointSlice) (types.NamespacedName, bool) {
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return types.NamespacedName{}, false
	}
	if _, headless := es.Labels[labelHeadless]; headless {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: es.Namespace, Name: name}, true
}

func (p *Proxier) onSlice(oldObj, obj any) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	p.mu.Lock()
	if old, ok := oldObj.(*discoveryv1.EndpointSlice); ok {
		// The slice may have moved to another Service (or been
		// relabelled headless).
		if okey, ok := sliceService(old); ok {
			if nkey, ok := sliceService(es); !ok || nkey != okey {
				p.removeSlice(okey, old.Name)
			}
		}
	}
	if key, ok := sliceService(es); ok {
		m := p.slices[key]
		if m == nil {
			m = map[string]*discoveryv1.EndpointSlice{}
			p.slices[key] = m
		}
		m[es.Name] = es
		p.markDirty(key)
	}
	p.mu.Unlock()
	p.signal()
}

func (p *Proxier) onSliceDelete(obj any) {
	es, ok := informer.Object[*discoveryv1.EndpointSlice](obj)
	if !ok {
		return
	}
	if key, ok := sliceService(es); ok {
		p.mu.Lock()
		p.removeSlice(key, es.Name)
		p.mu.Unlock()
		p.signal()
	}
}

// removeSlice forgets a slice; p.mu held.
func (p *Proxier) removeSlice(key types.NamespacedName, name string) {
	if m := p.slices[key]; m != nil {
		delete(m, name)
		if len(m) == 0 {
			delete(p.slices, key)
		}
	}
	p.markDirty(key)
}

// check compares the table's chains with what the proxy wrote, and
// schedules a rebuild if someone changed them.
func (p *Proxier) check(ctx context.Context) {
	p.syncMu.Lock()
	want := map[string]bool{}
	for _, name := range fixedChainNames() {
		want[name] = true
	}
	for name := range p.k.chains {
		want[name] = true
	}
	for name := range p.k.stale {
		want[name] = true
	}
	p.syncMu.Unlock()

	have, err := p.nft.List(ctx, "chains")
	if err != nil && !knftables.IsNotFound(err) {
		p.logger.Error("list chains", "err", err)
		return
	}
	same := len(have) == len(want)
	for _, name := range have {
		same = same && want[name]
	}
	if !same {
		p.logger.Warn("table changed behind the proxy; rebuilding it", "chains", len(have), "want", len(want))
		p.mu.Lock()
		p.needFull = true
		p.mu.Unlock()
	}
}

func (p *Proxier) stopTimers() {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.staleTimer != nil {
		p.staleTimer.Stop()
		p.staleTimer = nil
	}
}

// nodeIPs4 are the configured IPv4 node addresses.
func (p *Proxier) nodeIPs4() []netip.Addr { return p.r.nodeIPs }
