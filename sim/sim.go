package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
)

// podNodeIndex indexes the cached pods by spec.nodeName.
const podNodeIndex = "node"

// Sim runs simulated nodes against an API server.
type Sim struct {
	cfg       Config
	log       *slog.Logger
	client    kubernetes.Interface
	podBlocks blocks
	nodeIPs   blocks

	mu      sync.RWMutex
	nodes   map[string]*simNode
	order   []*simNode
	running bool
	started bool

	podFactory  informers.SharedInformerFactory
	nodeFactory informers.SharedInformerFactory
	podInformer cache.SharedIndexInformer
	podIndexer  cache.Indexer
	nodeSynced  cache.InformerSynced
	nodeLister  corelisters.NodeLister
	podWorker   *controller.Worker
	nodeWorker  *controller.Worker

	statesMu sync.Mutex
	states   map[string]*podState // by pod key
}

// New lays out cfg.Nodes simulated nodes; Run registers them.
func New(cfg Config) (*Sim, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	s := &Sim{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "sim"),
		client: cfg.Client,
		nodes:  map[string]*simNode{},
		states: map[string]*podState{},
	}
	s.podBlocks, _ = newBlocks(cfg.PodCIDR, cfg.NodeCIDRMaskSize)
	s.nodeIPs, _ = newBlocks(cfg.NodeIPRange, 32)
	for i := range cfg.Nodes {
		n, err := s.newSimNode(i)
		if err != nil {
			return nil, err
		}
		s.nodes[n.name] = n
		s.order = append(s.order, n)
	}

	// One informer on every bound pod, filtered here to this simulator's
	// nodes and indexed by node; managed fields are dropped to save memory.
	s.podFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }))
	s.podInformer = s.podFactory.Core().V1().Pods().Informer()
	if err := s.podInformer.SetTransform(stripManagedFields); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	if err := s.podInformer.AddIndexers(cache.Indexers{podNodeIndex: indexByNode}); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	s.podIndexer = s.podInformer.GetIndexer()
	s.nodeFactory = informers.NewSharedInformerFactory(cfg.Client, 0)
	nodeInformer := s.nodeFactory.Core().V1().Nodes()
	if err := nodeInformer.Informer().SetTransform(stripManagedFields); err != nil {
		return nil, fmt.Errorf("node informer: %w", err)
	}
	s.nodeLister = nodeInformer.Lister()
	s.nodeSynced = nodeInformer.Informer().HasSynced

	s.podWorker = controller.NewWorker("sim-pods", s.log, s.syncPod)
	s.nodeWorker = controller.NewWorker("sim-nodes", s.log, s.syncNode)
	_, err := s.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { s.podChanged(obj) },
		UpdateFunc: func(_, obj interface{}) {
			s.podChanged(obj)
		},
		DeleteFunc: func(obj interface{}) { s.podWorker.AddObject(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	return s, nil
}

func (s *Sim) podChanged(obj interface{}) {
	if pod, ok := obj.(*corev1.Pod); ok && s.node(pod.Spec.NodeName) != nil {
		s.podWorker.AddObject(obj)
	}
}

func indexByNode(obj interface{}) ([]string, error) {
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
		return []string{pod.Spec.NodeName}, nil
	}
	return nil, nil
}

func stripManagedFields(obj interface{}) (interface{}, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// Run registers the nodes, keeps them alive and runs their pods until ctx
// ends. It may be called once.
func (s *Sim) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("sim is already running")
	}
	s.started = true
	s.mu.Unlock()

	s.podFactory.Start(ctx.Done())
	s.nodeFactory.Start(ctx.Done())
	defer s.podFactory.Shutdown()
	defer s.nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.podInformer.HasSynced, s.nodeSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("sim: caches did not sync")
	}

	// Register the nodes; each node's pods run once it is registered.
	s.mu.Lock()
	for _, n := range s.order {
		s.nodeWorker.Add(n.name)
	}
	s.running = true
	count := len(s.order)
	s.mu.Unlock()
	s.log.Info("simulating nodes", "nodes", count, "prefix", s.cfg.NamePrefix, "podCIDR", s.cfg.PodCIDR)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.podWorker.Run(ctx, s.cfg.Workers) }()
	go func() { defer wg.Done(); s.nodeWorker.Run(ctx, s.cfg.NodeWorkers) }()
	wg.Wait()
	return nil
}

// node returns the simulated node of that name, or nil.
func (s *Sim) node(name string) *simNode {
	if name == "" {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes[name]
}

// NodeNames returns the names of the simulated nodes, in creation order.
func (s *Sim) NodeNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, len(s.order))
	for i, n := range s.order {
		names[i] = n.name
	}
	return names
}

// AddNodes adds count nodes (named after the last ones) and, if the
// simulator runs, registers them. It returns their names.
func (s *Sim) AddNodes(count int) ([]string, error) {
	if count < 0 {
		return nil, fmt.Errorf("add %d nodes: must not be negative", count)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	added := make([]*simNode, 0, count)
	for i := range count {
		n, err := s.newSimNode(len(s.order) + i)
		if err != nil {
			return nil, fmt.Errorf("add nodes: %w", err)
		}
		added = append(added, n)
	}
	names := make([]string, len(added))
	for i, n := range added {
		s.nodes[n.name] = n
		s.order = append(s.order, n)
		names[i] = n.name
		if s.running {
			s.nodeWorker.Add(n.name)
		}
	}
	if s.running && count > 0 {
		s.log.Info("nodes added", "count", count, "nodes", len(s.order))
	}
	return names, nil
}

// StopHeartbeat makes a node's kubelet go silent, as if it crashed or lost
// the network: its Lease and status are no longer renewed and its pods are
// left as they are (not even deleted pods are removed).
func (s *Sim) StopHeartbeat(name string) error {
	n := s.node(name)
	if n == nil {
		return fmt.Errorf("no simulated node %q", name)
	}
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	s.log.Info("node heartbeat stopped", "node", name)
	return nil
}

// ResumeHeartbeat brings a silent node back: it renews its Lease, posts
// its status (Ready again) and catches up with its pods at once.
func (s *Sim) ResumeHeartbeat(name string) error {
	n := s.node(name)
	if n == nil {
		return fmt.Errorf("no simulated node %q", name)
	}
	n.mu.Lock()
	was := n.stopped
	n.stopped = false
	n.mu.Unlock()
	if was {
		s.nodeWorker.Add(name)
		s.queueNodePods(name)
		s.log.Info("node heartbeat resumed", "node", name)
	}
	return nil
}

// queueNodePods queues the cached pods bound to a node.
func (s *Sim) queueNodePods(node string) {
	objs, err := s.podIndexer.ByIndex(podNodeIndex, node)
	if err != nil {
		s.log.Error("pods of node", "node", node, "err", err)
		return
	}
	for _, obj := range objs {
		s.podWorker.AddObject(obj)
	}
}

// reservePodIPs records the state of the cached pods of a node (their IPs
// above all), as a restarted kubelet finds its running pods. It runs when
// the node registers, before any of its pods is synced.
func (s *Sim) reservePodIPs(n *simNode) {
	objs, err := s.podIndexer.ByIndex(podNodeIndex, n.name)
	if err != nil {
		s.log.Error("pods of node", "node", n.name, "err", err)
		return
	}
	pool := n.ipPool()
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		key, err := cache.MetaNamespaceKeyFunc(pod)
		if err != nil {
			continue
		}
		st := s.state(key, pod, n)
		if st.ip.IsValid() && !pod.Spec.HostNetwork && st.finished.IsZero() {
			if pool.reserve(pod.UID, st.ip) {
				st.pool = pool
			}
		}
	}
}

func parsePrefix4(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("%s: not an IPv4 block of /30 or larger", s)
	}
	return p.Masked(), nil
}
