package podgc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth/controller"
)

// Config tunes the pod garbage collector.
type Config struct {
	// TerminatedPodThreshold is how many terminated pods may exist before
	// the oldest are deleted (--terminated-pod-gc-threshold). Default
	// 12500; negative: terminated pods are never collected.
	TerminatedPodThreshold int
	// CheckPeriod is how often pods are checked. Default 20s.
	CheckPeriod time.Duration
	// QuarantineTime is how long a node must be missing from the informer
	// before a live GET decides it is gone. Default 40s.
	QuarantineTime time.Duration
	// Parallelism bounds concurrent pod deletions. Default 20.
	Parallelism int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.TerminatedPodThreshold == 0 {
		c.TerminatedPodThreshold = 12500
	}
	if c.CheckPeriod == 0 {
		c.CheckPeriod = 20 * time.Second
	}
	if c.QuarantineTime == 0 {
		c.QuarantineTime = 40 * time.Second
	}
	if c.Parallelism == 0 {
		c.Parallelism = 20
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.CheckPeriod < 0 || c.QuarantineTime < 0 || c.Parallelism < 0 {
		return errors.New("podgc: negative configuration value")
	}
	return nil
}

// Controller is the pod garbage collector.
type Controller struct {
	cfg    Config
	client kubernetes.Interface
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
	// quarantine holds names of nodes missing from the informer until
	// their quarantine ends.
	quarantine workqueue.TypedDelayingInterface[string]
	now        func() time.Time
	logger     *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns a pod garbage collector with the default configuration.
func New(s *controller.Shared) (controller.Controller, error) {
	return NewWithConfig(s, Config{})
}

// NewWithConfig returns a pod garbage collector configured by cfg.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	return newController(s, cfg)
}

func newController(s *controller.Shared, cfg Config) (*Controller, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	pods := s.Informers.Core().V1().Pods()
	nodes := s.Informers.Core().V1().Nodes()
	return &Controller{
		cfg: cfg, client: s.Client, now: now,
		pods: pods.Lister(), nodes: nodes.Lister(),
		synced:     []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		quarantine: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "orphaned_pods_nodes"}),
		logger:     logger.With("controller", "pod-garbage-collector"),
	}, nil
}

// Run collects pods every check period until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	defer c.quarantine.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	t := time.NewTicker(c.cfg.CheckPeriod)
	defer t.Stop()
	for {
		pods, err := c.pods.List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		nodes, err := c.nodes.List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list nodes: %w", err)
		}
		c.collect(ctx, pods, nodes)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// collect runs one pass over pods and nodes.
func (c *Controller) collect(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	if c.cfg.TerminatedPodThreshold > 0 {
		c.collectTerminated(ctx, pods)
	}
	c.collectOutOfService(ctx, pods, byName)
	c.collectOrphaned(ctx, pods, byName)
	c.collectUnscheduledTerminating(ctx, pods)
}

func terminated(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodPending && p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodUnknown
}

// collectTerminated deletes the terminated pods beyond the threshold:
// evicted ones first, then the oldest.
func (c *Controller) collectTerminated(ctx context.Context, pods []*corev1.Pod) {
	var done []*corev1.Pod
	for _, p := range pods {
		if terminated(p) {
			done = append(done, p)
		}
	}
	n := len(done) - c.cfg.TerminatedPodThreshold
	if n <= 0 {
		return
	}
	c.logger.Info("garbage collecting terminated pods", "count", n)
	sortForDeletion(done)
	c.forEach(done[:n], func(p *corev1.Pod) error { return c.failAndDelete(ctx, p, nil) })
}

// sortForDeletion orders pods evicted first, then by creation time, then
// by name.
func sortForDeletion(pods []*corev1.Pod) {
	evicted := func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted" }
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if evicted(a) != evicted(b) {
			return evicted(a)
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// collectOutOfService deletes terminating pods on NotReady nodes tainted
// node.kubernetes.io/out-of-service.
func (c *Controller) collectOutOfService(ctx context.Context, pods []*corev1.Pod, nodes map[string]*corev1.Node) {
	var doomed []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			continue
		}
		n, ok := nodes[p.Spec.NodeName]
		if ok && !controller.NodeReady(n) && hasTaint(n, corev1.TaintNodeOutOfService) {
			doomed = append(doomed, p)
		}
	}
	if len(doomed) == 0 {
		return
	}
	c.logger.Info("garbage collecting terminating pods on out-of-service nodes", "count", len(doomed))
	sortForDeletion(doomed)
	c.forEach(doomed, func(p *corev1.Pod) error { return c.failAndDelete(ctx, p, nil) })
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// collectOrphaned deletes pods bound to nodes that are gone: a node missing
// from the informer is quarantined, then checked with a live GET.
func (c *Controller) collectOrphaned(ctx context.Context, pods []*corev1.Pod, nodes map[string]*corev1.Node) {
	for _, p := range pods {
		if p.Spec.NodeName != "" && nodes[p.Spec.NodeName] == nil {
			c.quarantine.AddAfter(p.Spec.NodeName, c.cfg.QuarantineTime)
		}
	}
	gone := map[string]bool{}
	for c.quarantine.Len() > 0 {
		name, quit := c.quarantine.Get()
		if quit {
			return
		}
		if nodes[name] == nil {
			_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				gone[name] = true
			case err != nil:
				// Quarantined again on the next pass if still missing.
				c.logger.Info("node lookup failed", "node", name, "err", err)
			}
		}
		c.quarantine.Done(name)
	}
	cond := &corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "DeletionByPodGC", Message: "PodGC: node no longer exists",
	}
	var orphans []*corev1.Pod
	for _, p := range pods {
		if gone[p.Spec.NodeName] {
			orphans = append(orphans, p)
		}
	}
	c.forEach(orphans, func(p *corev1.Pod) error {
		c.logger.Info("deleting orphaned pod of a node that no longer exists", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
		return c.failAndDelete(ctx, p, cond)
	})
}

// collectUnscheduledTerminating deletes terminating pods bound to no node.
func (c *Controller) collectUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	var doomed []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			doomed = append(doomed, p)
		}
	}
	c.forEach(doomed, func(p *corev1.Pod) error {
		c.logger.Info("deleting unscheduled terminating pod", "pod", p.Namespace+"/"+p.Name)
		return c.failAndDelete(ctx, p, nil)
	})
}

// forEach runs fn on pods, Parallelism at a time, logging failures.
func (c *Controller) forEach(pods []*corev1.Pod, fn func(*corev1.Pod) error) {
	sem := make(chan struct{}, c.cfg.Parallelism)
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(p); err != nil && !apierrors.IsNotFound(err) {
				c.logger.Error("pod garbage collection failed", "pod", p.Namespace+"/"+p.Name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// failAndDelete marks a pod that has not terminated Failed (with cond, if
// any), since no kubelet may ever do it, then deletes it at once.
func (c *Controller) failAndDelete(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition) error {
	if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		status := p.Status.DeepCopy()
		status.Phase = corev1.PodFailed
		if cond != nil {
			setCondition(status, *cond, c.now())
		}
		patch, err := statusPatch(p.UID, p.Status, *status)
		if err != nil {
			return err
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("mark pod %s/%s failed: %w", p.Namespace, p.Name, err)
		}
	}
	zero := int64(0)
	if err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// setCondition adds or updates a pod condition; its transition time
// changes with its status.
func setCondition(status *corev1.PodStatus, cond corev1.PodCondition, now time.Time) {
	cond.LastTransitionTime = metav1.NewTime(now)
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != cond.Type {
			continue
		}
		if old.Status == cond.Status {
			cond.LastTransitionTime = old.LastTransitionTime
		}
		*old = cond
		return
	}
	status.Conditions = append(status.Conditions, cond)
}

// statusPatch is the strategic merge patch from one pod status to another,
// with the pod's uid as a precondition.
func statusPatch(uid types.UID, old, new corev1.PodStatus) ([]byte, error) {
	before, err := json.Marshal(corev1.Pod{Status: old})
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: new})
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(before, after, corev1.Pod{})
}
