package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth/controller"
)

// Component names the collector in events, as Kubernetes does.
const Component = "garbage-collector-controller"

// Config tunes the garbage collector.
type Config struct {
	// ResyncPeriod is how often discovery is read again to follow
	// resources added or removed. Default 30s (kube-controller-manager's).
	ResyncPeriod time.Duration
	// Workers is the number of concurrent delete and orphan workers.
	// Default: Options.Workers.
	Workers int
	// IgnoredResources are never watched. Default: core/v1 and
	// events.k8s.io events, as Kubernetes.
	IgnoredResources []schema.GroupResource
	// AbsentOwnerCacheSize bounds the cache of owners known not to exist.
	// Default 500.
	AbsentOwnerCacheSize int
}

// Defaults fills unset fields.
func (c *Config) Defaults(o controller.Options) {
	if c.ResyncPeriod == 0 {
		c.ResyncPeriod = 30 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = o.Workers
	}
	if c.Workers == 0 {
		c.Workers = 5
	}
	if c.IgnoredResources == nil {
		c.IgnoredResources = []schema.GroupResource{{Group: "", Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}
	}
	if c.AbsentOwnerCacheSize == 0 {
		c.AbsentOwnerCacheSize = 500
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.ResyncPeriod < 0 || c.Workers < 0 || c.AbsentOwnerCacheSize < 0 {
		return errors.New("gc: negative configuration value")
	}
	return nil
}

// mapper maps kinds to resources; the discovery-backed one can be reset.
type mapper interface {
	RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error)
	Reset()
}

// Controller is the garbage collector.
type Controller struct {
	cfg       Config
	md        metadata.Interface
	discovery discovery.ServerResourcesInterface
	mapper    mapper
	recorder  record.EventRecorder
	logger    *slog.Logger

	graph    *graph
	absent   *absentCache
	changes  workqueue.TypedInterface[*event]
	deletes  *controller.Worker
	orphans  *controller.Worker
	monitors *monitors
}

var _ controller.Controller = (*Controller)(nil)

// New returns a garbage collector with the default configuration.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a garbage collector configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	cfg.Defaults(s.Options)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s.Client == nil || s.Metadata == nil {
		return nil, errors.New("gc: a client and a metadata client are required")
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "garbagecollector")
	c := &Controller{
		cfg:       cfg,
		md:        s.Metadata,
		discovery: s.Client.Discovery(),
		// The mapper has its own cached discovery, reset when resources
		// change, so lookups between resyncs cost nothing.
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(s.Client.Discovery())),
		recorder: s.Recorder(Component),
		logger:   logger,
		absent:   newAbsentCache(cfg.AbsentOwnerCacheSize),
		changes:  workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[*event]{Name: "garbage_collector_graph_changes"}),
	}
	c.graph = newGraph(c.absent, c)
	c.deletes = controller.NewWorker("garbage_collector_attempt_to_delete", logger, c.syncDelete)
	c.orphans = controller.NewWorker("garbage_collector_attempt_to_orphan", logger, c.syncOrphan)
	c.monitors = newMonitors(s.Metadata, c.changes, logger)
	return c, nil
}

// Run collects garbage until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c.processChange() {
		}
	}()
	defer func() {
		c.monitors.stopAll()
		c.changes.ShutDown()
		wg.Wait()
	}()

	// Discovery may fail while the API server starts: try until it works.
	var known map[schema.GroupVersionResource]string
	for {
		res, err := c.resync(nil)
		if err == nil {
			known = res
			break
		}
		c.logger.Info("initial resource discovery failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	syncCtx, cancel := context.WithTimeout(ctx, c.cfg.ResyncPeriod)
	if !c.monitors.waitSynced(syncCtx) {
		c.logger.Info("not all resource monitors synced; proceeding anyway")
	}
	cancel()

	wg.Add(2)
	go func() { defer wg.Done(); c.deletes.Run(ctx, c.cfg.Workers) }()
	go func() { defer wg.Done(); c.orphans.Run(ctx, c.cfg.Workers) }()

	t := time.NewTicker(c.cfg.ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := c.resync(known)
		if err != nil {
			c.logger.Info("resource resync failed", "err", err)
			continue
		}
		known = res
	}
}

func (c *Controller) processChange() bool {
	e, quit := c.changes.Get()
	if quit {
		return false
	}
	defer c.changes.Done(e)
	c.graph.process(e)
	return true
}

// resync reads discovery and, when the deletable resources differ from
// known, resets the mapper and starts or stops monitors to match. It
// returns the resources now monitored.
func (c *Controller) resync(known map[schema.GroupVersionResource]string) (map[schema.GroupVersionResource]string, error) {
	found, err := deletableResources(c.discovery)
	if len(found) == 0 {
		if err == nil {
			err = errors.New("discovery reported no resources")
		}
		return known, err
	}
	if err != nil {
		c.logger.Info("resource discovery incomplete", "err", err)
	}
	found = toMonitor(found, err, known, c.cfg.IgnoredResources)
	if sameResources(known, found) {
		return known, nil
	}
	c.mapper.Reset()
	added, removed := c.monitors.sync(found)
	c.logger.Info("resources to collect changed", "added", added, "removed", removed, "monitored", len(found))
	return found, nil
}

// toMonitor is the set of resources to watch: those found, less the
// ignored ones, plus those known before whose group failed discovery this
// time.
func toMonitor(found map[schema.GroupVersionResource]string, err error, known map[schema.GroupVersionResource]string, ignored []schema.GroupResource) map[schema.GroupVersionResource]string {
	out := make(map[schema.GroupVersionResource]string, len(found))
	for gvr, kind := range found {
		if !slices.Contains(ignored, gvr.GroupResource()) {
			out[gvr] = kind
		}
	}
	if failed, ok := discovery.GroupDiscoveryFailedErrorGroups(err); ok {
		for gvr, kind := range known {
			if _, bad := failed[gvr.GroupVersion()]; bad {
				out[gvr] = kind
			}
		}
	}
	return out
}

// sameResources compares two resource sets; nil (nothing monitored yet)
// equals none.
func sameResources(a, b map[schema.GroupVersionResource]string) bool {
	if len(a) != len(b) || a == nil {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// deletableResources lists the preferred version of every resource that
// can be listed, watched and deleted, with its kind.
func deletableResources(d discovery.ServerResourcesInterface) (map[schema.GroupVersionResource]string, error) {
	lists, err := d.ServerPreferredResources()
	out := map[schema.GroupVersionResource]string{}
	lists = discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete", "list", "watch"}}, lists)
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			out[gv.WithResource(r.Name)] = r.Kind
		}
	}
	return out, err
}

// The sink: what the graph decides goes to the workers and the recorder.

func (c *Controller) attemptToDelete(uid types.UID, later bool) {
	if later {
		c.deletes.AddAfter(string(uid), time.Second)
		return
	}
	c.deletes.Add(string(uid))
}

func (c *Controller) attemptToOrphan(uid types.UID) { c.orphans.Add(string(uid)) }

func (c *Controller) invalidNamespace(dependent ref, owner metav1.OwnerReference) {
	invalid := ref{APIVersion: owner.APIVersion, Kind: owner.Kind, Namespace: dependent.Namespace, Name: owner.Name, UID: owner.UID}
	c.recorder.Eventf(&corev1.ObjectReference{
		APIVersion: dependent.APIVersion, Kind: dependent.Kind, Namespace: dependent.Namespace,
		Name: dependent.Name, UID: dependent.UID,
	}, corev1.EventTypeWarning, "OwnerRefInvalidNamespace", "ownerRef %s does not exist in namespace %q", invalid, dependent.Namespace)
}

// queueVirtualDelete tells the graph that the object r does not exist.
func (c *Controller) queueVirtualDelete(r ref) {
	gv, _ := schema.ParseGroupVersion(r.APIVersion)
	obj := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: r.APIVersion, Kind: r.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name, UID: r.UID},
	}
	c.changes.Add(&event{typ: deleteEvent, virtual: true, obj: obj, gvk: gv.WithKind(r.Kind)})
}

// GraphSize is the number of objects in the dependency graph (for tests
// and debugging).
func (c *Controller) GraphSize() int { return c.graph.len() }

func (c *Controller) String() string {
	return fmt.Sprintf("garbagecollector(%d objects)", c.graph.len())
}
