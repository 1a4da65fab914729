package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/internal/informer"
)

// Name is the controller's name, as kube-controller-manager's.
const Name = "disruption-controller"

// component is the source of the controller's events (Kubernetes'
// disruption controller reports as the controller manager).
const component = "controllermanager"

const (
	// deletionTimeout is how long an evicted pod may take to be marked
	// for deletion before it counts as healthy again.
	deletionTimeout = 2 * time.Minute
	// stalePodDisruptionTimeout is how long a pod may keep a
	// DisruptionTarget condition without being deleted.
	stalePodDisruptionTimeout = 2 * time.Minute
)

// Controller is the disruption controller.
type Controller struct {
	client   kubernetes.Interface
	logger   *slog.Logger
	recorder record.EventRecorder
	now      func() time.Time

	pdbs         policylisters.PodDisruptionBudgetLister
	pods         corelisters.PodLister
	replicaSets  appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	scales       scaleGetter
	synced       []cache.InformerSynced

	worker       *controller.Worker // PodDisruptionBudgets
	stalePods    *controller.Worker // pods with a stale DisruptionTarget condition
	staleTimeout time.Duration
}

var _ controller.Controller = (*Controller)(nil)

// New returns the controller; it registers its informers' handlers.
func New(s *controller.Shared) (controller.Controller, error) {
	return newController(s)
}

func newController(s *controller.Shared) (*Controller, error) {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", Name)
	c := &Controller{
		client:       s.Client,
		logger:       logger,
		recorder:     s.Recorder(component),
		now:          now,
		scales:       &apiScales{client: s.Client},
		staleTimeout: stalePodDisruptionTimeout,
	}
	c.worker = controller.NewWorker(Name, logger, c.sync)
	c.stalePods = controller.NewWorker(Name+"-stale-pods", logger, c.syncStalePod)

	pdbs := s.Informers.Policy().V1().PodDisruptionBudgets()
	pods := s.Informers.Core().V1().Pods()
	rss := s.Informers.Apps().V1().ReplicaSets()
	deps := s.Informers.Apps().V1().Deployments()
	sss := s.Informers.Apps().V1().StatefulSets()
	c.pdbs, c.pods = pdbs.Lister(), pods.Lister()
	c.replicaSets, c.deployments, c.statefulSets = rss.Lister(), deps.Lister(), sss.Lister()
	c.synced = []cache.InformerSynced{pdbs.Informer().HasSynced, pods.Informer().HasSynced,
		rss.Informer().HasSynced, deps.Informer().HasSynced, sss.Informer().HasSynced}

	if _, err := pdbs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) { c.worker.AddObject(obj) },
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("%s: pdb handler: %w", Name, err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.podChanged(obj, true) },
		UpdateFunc: func(_, obj interface{}) { c.podChanged(obj, true) },
		DeleteFunc: func(obj interface{}) { c.podChanged(obj, false) },
	}); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	return c, nil
}

// podChanged queues the budget of a pod, and the pod itself when its
// DisruptionTarget condition may go stale.
func (c *Controller) podChanged(obj interface{}, live bool) {
	pod, ok := informer.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	if pdb := c.pdbForPod(pod); pdb != nil {
		c.worker.AddObject(pdb)
	}
	if live {
		if stale, after := c.staleDisruptionCondition(pod); stale {
			c.stalePods.AddAfter(pod.Namespace+"/"+pod.Name, after)
		}
	}
}

// pdbForPod returns the budget of a pod (the first, with a warning, when
// several select it).
func (c *Controller) pdbForPod(pod *corev1.Pod) *policyv1.PodDisruptionBudget {
	pdbs, err := c.pdbs.GetPodPodDisruptionBudgets(pod)
	if err != nil || len(pdbs) == 0 {
		return nil
	}
	if len(pdbs) > 1 {
		msg := fmt.Sprintf("Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, pdbs[0].Name)
		c.logger.Info("pod matches several budgets", "pod", pod.Namespace+"/"+pod.Name, "chosen", pdbs[0].Name)
		c.recorder.Event(pod, corev1.EventTypeWarning, "MultiplePodDisruptionBudgets", msg)
	}
	return pdbs[0]
}

// Run keeps budgets' status until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.logger.Info("starting controller")
	defer c.logger.Info("stopping controller")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.stalePods.Run(ctx, 1)
	}()
	c.worker.Run(ctx, 1)
	wg.Wait()
	return nil
}
