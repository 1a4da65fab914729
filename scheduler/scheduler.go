package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"berth/scheduler/cache"
	"berth/scheduler/framework"
	"berth/scheduler/plugins/noderesources"
	"berth/scheduler/queue"
)

// Config configures the scheduler.
type Config struct {
	// Client is a (protobuf) client of the API server. Required.
	Client kubernetes.Interface
	// SchedulerName: the scheduler takes the pods whose
	// spec.schedulerName is this. Default "default-scheduler".
	SchedulerName string
	// Scoring is NodeResourcesFit's scoring strategy: "LeastAllocated"
	// (spread, the default) or "MostAllocated" (bin packing).
	Scoring string
	// Logger receives the scheduler's logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults fills the unset fields.
func (c *Config) Defaults() {
	if c.SchedulerName == "" {
		c.SchedulerName = v1.DefaultSchedulerName
	}
	if c.Scoring == "" {
		c.Scoring = noderesources.LeastAllocated
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Client == nil {
		return errors.New("scheduler: a client is required")
	}
	switch c.Scoring {
	case noderesources.LeastAllocated, noderesources.MostAllocated:
	default:
		return fmt.Errorf("scheduler: scoring strategy %q is not supported (LeastAllocated, MostAllocated)", c.Scoring)
	}
	return nil
}

// API requests in flight: bindings and event writes are each limited, so
// that together they stay within one HTTP/2 connection's streams (Go's
// server allows 250).
const (
	maxConcurrentBindings    = 128
	maxConcurrentEventWrites = 32
)

// tunables are the knobs tests turn; New uses Kubernetes' values.
type tunables struct {
	// parallelism is the number of goroutines filtering and scoring.
	parallelism int
	// percentageOfNodesToScore: 0 is adaptive (50% − nodes/125, ≥ 5%).
	percentageOfNodesToScore int
	queue                    queue.Config
}

// Scheduler assigns pending pods to nodes.
type Scheduler struct {
	cfg    Config
	logger *slog.Logger
	client kubernetes.Interface

	informers   informers.SharedInformerFactory
	podLister   corelisters.PodLister
	synced      []toolscache.InformerSynced
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder

	cache    *cache.Cache
	snapshot *framework.Snapshot
	queue    *queue.Queue
	fwk      *framework.Framework

	percentageOfNodesToScore int
	parallelizer             framework.Parallelizer
	nextStartNodeIndex       int
	feasibleBuf              []*framework.NodeInfo
	statusBuf                []*framework.Status

	bindings sync.WaitGroup
	bindSem  chan struct{}
	// bound counts successful bindings.
	bound atomic.Int64
	ran   bool
	mu    sync.Mutex
}

// New builds the scheduler: its informers (pods not yet terminated, nodes,
// and what the plugins read), its queue, cache and framework.
func New(cfg Config) (*Scheduler, error) {
	return newScheduler(cfg, tunables{})
}

func newScheduler(cfg Config, t tunables) (*Scheduler, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if t.parallelism == 0 {
		t.parallelism = runtime.GOMAXPROCS(0)
	}
	s := &Scheduler{
		cfg:                      cfg,
		logger:                   cfg.Logger,
		client:                   cfg.Client,
		informers:                informers.NewSharedInformerFactory(cfg.Client, 0),
		cache:                    cache.New(cfg.Logger),
		snapshot:                 framework.NewEmptySnapshot(),
		percentageOfNodesToScore: t.percentageOfNodesToScore,
		parallelizer:             framework.Parallelizer{Workers: t.parallelism},
		bindSem:                  make(chan struct{}, maxConcurrentBindings),
	}
	// The pod informer lists pods that are not terminated; it must be
	// registered before the plugins ask the factory for pod listers.
	podInformer := s.informers.InformerFor(&v1.Pod{}, func(c kubernetes.Interface, resync time.Duration) toolscache.SharedIndexInformer {
		sel := fields.ParseSelectorOrDie("status.phase!=" + string(v1.PodSucceeded) + ",status.phase!=" + string(v1.PodFailed))
		return coreinformers.NewFilteredPodInformer(c, metav1.NamespaceAll, resync,
			toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc},
			func(o *metav1.ListOptions) { o.FieldSelector = sel.String() })
	})
	s.podLister = corelisters.NewPodLister(podInformer.GetIndexer())
	nodeInformer := s.informers.Core().V1().Nodes().Informer()

	s.broadcaster = events.NewBroadcaster(&limitedSink{
		sink: &events.EventSinkImpl{Interface: cfg.Client.EventsV1()},
		sem:  make(chan struct{}, maxConcurrentEventWrites),
	})
	s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, cfg.SchedulerName)

	fwk, err := framework.New(framework.Options{
		Client:      cfg.Client,
		Informers:   s.informers,
		Recorder:    s.recorder,
		Snapshot:    s.snapshot,
		Parallelism: t.parallelism,
		Logger:      cfg.Logger,
		Now:         cfg.Now,
	}, defaultPlugins(cfg))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.fwk = fwk
	qc := t.queue
	qc.Less = fwk.QueueSortLess
	qc.PreEnqueue = func(pod *v1.Pod) *framework.Status { return fwk.RunPreEnqueuePlugins(context.Background(), pod) }
	qc.PluginEvents = fwk.EventsToRegister()
	qc.PodExists = s.podExistsUnassigned
	qc.Now = cfg.Now
	qc.Logger = cfg.Logger
	s.queue = queue.New(qc)
	fwk.SetNominator(s.queue)

	if err := s.addHandlers(podInformer, nodeInformer); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return s, nil
}

// podExistsUnassigned is true when the pod is still in the informer and
// not bound.
func (s *Scheduler) podExistsUnassigned(pod *v1.Pod) bool {
	p, err := s.podLister.Pods(pod.Namespace).Get(pod.Name)
	return err == nil && p.Spec.NodeName == ""
}

// Run schedules pods until ctx ends. It may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("scheduler: Run called twice")
	}
	s.ran = true
	s.mu.Unlock()

	if err := s.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("scheduler: record events: %w", err)
	}
	defer s.broadcaster.Shutdown()
	s.informers.Start(ctx.Done())
	defer s.informers.Shutdown()
	if !toolscache.WaitForCacheSync(ctx.Done(), s.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("scheduler: caches did not sync")
	}
	s.logger.Info("scheduler started", "schedulerName", s.cfg.SchedulerName, "nodes", s.cache.NodeCount(), "scoring", s.cfg.Scoring)
	go s.queue.Run(ctx)
	for s.scheduleOne(ctx) {
	}
	s.bindings.Wait()
	return nil
}

// Bound is the number of pods this scheduler has bound.
func (s *Scheduler) Bound() int64 { return s.bound.Load() }
