package pod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"berth/agent/cgroup"
	"berth/internal/informer"
)

// labelNode marks the sandboxes and containers of this manager's node, so
// that a runtime shared with others is never cleaned of theirs.
const labelNode = "io.berth.node"

// Manager runs the pods bound to a node.
type Manager struct {
	cfg         Config
	log         *slog.Logger
	cg          *cgroup.Manager
	crash       *backOff // container restarts
	puller      *puller
	runtimeName string

	pods, services, nodes cache.SharedIndexInformer

	mu       sync.Mutex
	workers  map[types.UID]*worker
	wg       sync.WaitGroup
	stopping atomic.Bool
	// workerCtx is the context of workers; cancelWorkers ends them.
	workerCtx     context.Context
	cancelWorkers context.CancelFunc
	// admitMu serializes admission, so that pods admitted together fit.
	admitMu sync.Mutex
	// sandboxSlots limits the sandboxes being made at once.
	sandboxSlots chan struct{}
}

// New returns a manager for cfg.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pod manager: %w", err)
	}
	cfg.defaults()
	cg, err := cgroup.New(cgroup.Config{Root: cfg.CgroupRoot, Parent: cfg.CgroupParent})
	if err != nil {
		return nil, fmt.Errorf("pod manager: %w", err)
	}
	m := &Manager{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "pods"),
		cg:          cg,
		crash:       newBackOff(cfg.BackOff, cfg.MaxBackOff),
		puller:      newPuller(cfg.Images, newBackOff(cfg.BackOff, cfg.MaxBackOff)),
		runtimeName: "containerd",
		workers:     map[types.UID]*worker{},
	}
	m.sandboxSlots = make(chan struct{}, cfg.ParallelSandboxes)
	m.workerCtx, m.cancelWorkers = context.WithCancel(context.Background())
	client := cfg.Client
	listWatch := func(list func(context.Context, metav1.ListOptions) (runtime.Object, error), w func(context.Context, metav1.ListOptions) (watch.Interface, error), selector string) *cache.ListWatch {
		return &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return list(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return w(ctx, o)
			},
		}
	}
	pods := client.CoreV1().Pods(metav1.NamespaceAll)
	m.pods = cache.NewSharedIndexInformer(listWatch(
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) },
		pods.Watch, fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()), &corev1.Pod{}, 0, cache.Indexers{})
	services := client.CoreV1().Services(metav1.NamespaceAll)
	m.services = cache.NewSharedIndexInformer(listWatch(
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return services.List(ctx, o) },
		services.Watch, ""), &corev1.Service{}, 0, cache.Indexers{})
	nodes := client.CoreV1().Nodes()
	m.nodes = cache.NewSharedIndexInformer(listWatch(
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return nodes.List(ctx, o) },
		nodes.Watch, fields.OneTermEqualSelector("metadata.name", cfg.NodeName).String()), &corev1.Node{}, 0, cache.Indexers{})
	return m, nil
}

// Run runs the node's pods until ctx ends (call it once). Pods are left
// running: an agent restart must not touch them.
func (m *Manager) Run(ctx context.Context) error {
	if v, err := m.cfg.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err == nil && v.RuntimeName != "" {
		m.runtimeName = v.RuntimeName
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		m.cancelWorkers()
		m.wg.Wait()
	}()
	go m.services.RunWithContext(ctx)
	go m.nodes.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), m.services.HasSynced, m.nodes.HasSynced) {
		return nil // ctx ended
	}
	// Pods wait for the node to be registered before admission.
	_, err := m.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { m.wakeUnadmitted() },
		UpdateFunc: func(any, any) { m.wakeUnadmitted() },
	})
	if err != nil {
		return fmt.Errorf("node handler: %w", err)
	}
	reg, err := m.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.dispatch(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { m.dispatch(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if pod, ok := informer.Object[*corev1.Pod](obj); ok {
				m.removed(pod.UID)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	go m.pods.RunWithContext(ctx)
	// Every pod of the node has its worker before orphans are looked for.
	if !cache.WaitForCacheSync(ctx.Done(), m.pods.HasSynced, reg.HasSynced) {
		return nil
	}
	m.log.Info("pod manager running", "node", m.cfg.NodeName)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.relistLoop(ctx) }()
	if m.cfg.Probes != nil {
		wg.Add(1)
		go func() { defer wg.Done(); m.probeResults(ctx) }()
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// dispatch hands a pod's new version to its worker, starting one for a
// pod seen for the first time.
func (m *Manager) dispatch(pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping.Load() {
		return
	}
	w, ok := m.workers[pod.UID]
	if !ok {
		w = newWorker(m, pod.UID)
		m.workers[pod.UID] = w
		m.startWorker(w)
	}
	w.update(pod)
}

// removed tells a pod's worker that the pod is gone from the API.
func (m *Manager) removed(uid types.UID) {
	m.mu.Lock()
	w := m.workers[uid]
	m.mu.Unlock()
	if w != nil {
		w.markGone()
	}
}

// startWorker runs w (m.mu held).
func (m *Manager) startWorker(w *worker) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		w.run(m.workerCtx)
		m.mu.Lock()
		if m.workers[w.uid] == w {
			delete(m.workers, w.uid)
		}
		m.mu.Unlock()
	}()
}

func (m *Manager) worker(uid types.UID) *worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.workers[uid]
}

// wakeUnadmitted has the workers of pods not admitted yet sync.
func (m *Manager) wakeUnadmitted() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		w.mu.Lock()
		waiting := !w.admitted && !w.finished
		w.mu.Unlock()
		if waiting {
			w.wake()
		}
	}
}

// activePods are the pods admitted to the node that have not finished,
// besides except.
func (m *Manager) activePods(except types.UID) []*corev1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*corev1.Pod
	for uid, w := range m.workers {
		if uid == except {
			continue
		}
		if pod := w.activePod(); pod != nil {
			out = append(out, pod)
		}
	}
	return out
}

// node is the node object, or nil while it is not registered.
func (m *Manager) node() *corev1.Node {
	obj, ok, err := m.nodes.GetStore().GetByKey(m.cfg.NodeName)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Node)
}

// hostIPs are the node's addresses, as the kubelet reports them in pods:
// its InternalIP, else its ExternalIP.
func (m *Manager) hostIPs() []string {
	n := m.node()
	if n == nil {
		return nil
	}
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == t {
				return []string{a.Address}
			}
		}
	}
	return nil
}

// memoryCapacity is the node's memory (for OOM score adjustments).
func (m *Manager) memoryCapacity() int64 {
	if n := m.node(); n != nil {
		return n.Status.Capacity.Memory().Value()
	}
	return 0
}

func (m *Manager) now() time.Time { return m.cfg.Now() }

// envSource is where the environment of a pod's containers comes from.
func (m *Manager) envSource(pod *corev1.Pod, podIPs []string) *envSource {
	var services []*corev1.Service
	for _, obj := range m.services.GetStore().List() {
		services = append(services, obj.(*corev1.Service))
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	src := &envSource{
		configMap: func(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
			return m.cfg.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		},
		secret: func(ctx context.Context, ns, name string) (*corev1.Secret, error) {
			return m.cfg.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		services: serviceEnv(services, pod.Namespace, links),
		podIPs:   podIPs,
		hostIPs:  m.hostIPs(),
	}
	if pod.Spec.HostNetwork {
		src.podIPs = src.hostIPs
	}
	if n := m.node(); n != nil {
		src.allocatable = n.Status.Allocatable
	}
	return src
}

// probeResults hands probe results to the pods' workers.
func (m *Manager) probeResults(ctx context.Context) {
	results := m.cfg.Probes.Results()
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-results:
			if !ok {
				return
			}
			if w := m.worker(r.PodUID); w != nil {
				w.probeResult(r)
			}
		}
	}
}

// StopAll stops every pod of the node: containers are stopped (with their
// grace periods, as far as ctx allows), sandboxes removed, volumes torn
// down, pod cgroups removed; logs stay, so that restart counts continue
// when the pods come back. It is the orderly shutdown of a node (the
// pods stay bound to it in the API); the manager runs no pods afterwards.
func (m *Manager) StopAll(ctx context.Context) error {
	m.stopping.Store(true)
	m.cancelWorkers()
	m.wg.Wait()
	sel := map[string]string{labelNode: m.cfg.NodeName}
	sbs, err := m.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return fmt.Errorf("stop pods: %w", err)
	}
	uids := map[types.UID]bool{}
	for _, sb := range sbs.Items {
		uids[types.UID(sb.Labels[LabelPodUID])] = true
	}
	if cgs, err := m.cg.Pods(); err == nil {
		for _, uid := range cgs {
			uids[uid] = true
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(uids))
	for uid := range uids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- newWorker(m, uid).removeAll(ctx, nil, -1, true)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	m.cg.RemoveParent()
	return errors.Join(all...)
}
