package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/controller/history"
	"berth/internal/informer"
)

// Name is the controller's name (its events' source component is
// "statefulset-controller").
const Name = "statefulset"

// Controller is the StatefulSet controller.
type Controller struct {
	client   kubernetes.Interface
	logger   *slog.Logger
	recorder record.EventRecorder
	now      func() time.Time
	workers  int

	sets    appslisters.StatefulSetLister
	pods    corelisters.PodLister
	claims  corelisters.PersistentVolumeClaimLister // nil when the API has no claims
	history *history.Store
	synced  []cache.InformerSynced
	worker  *controller.Worker
}

var _ controller.Controller = (*Controller)(nil)

// New builds the controller from the shared clients and informers: it
// watches StatefulSets, pods and ControllerRevisions, and
// PersistentVolumeClaims if the API serves them.
func New(s *controller.Shared) (controller.Controller, error) {
	c := &Controller{
		client:   s.Client,
		logger:   s.Logger.With("controller", Name),
		recorder: s.Recorder("statefulset-controller"),
		now:      s.Now,
		workers:  s.Options.Workers,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.workers <= 0 {
		c.workers = 1
	}
	c.worker = controller.NewWorker(Name, c.logger, c.sync)

	setInformer := s.Informers.Apps().V1().StatefulSets()
	podInformer := s.Informers.Core().V1().Pods()
	revInformer := s.Informers.Apps().V1().ControllerRevisions()
	c.sets = setInformer.Lister()
	c.pods = podInformer.Lister()
	c.history = history.NewStore(s.Client, revInformer.Lister())
	c.synced = []cache.InformerSynced{setInformer.Informer().HasSynced, podInformer.Informer().HasSynced, revInformer.Informer().HasSynced}

	if ok, err := servesClaims(s.Client); err != nil {
		c.logger.Warn("cannot tell whether the API serves persistentvolumeclaims; not creating claims", "err", err)
	} else if ok {
		claimInformer := s.Informers.Core().V1().PersistentVolumeClaims()
		c.claims = claimInformer.Lister()
		c.synced = append(c.synced, claimInformer.Informer().HasSynced)
	} else {
		c.logger.Info("the API serves no persistentvolumeclaims; volume claim templates create no claims")
	}

	if _, err := setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.worker.AddObject,
		UpdateFunc: func(_, cur interface{}) { c.worker.AddObject(cur) },
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("statefulset controller: watch statefulsets: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onPodAdd,
		UpdateFunc: c.onPodUpdate,
		DeleteFunc: c.onPodDelete,
	}); err != nil {
		return nil, fmt.Errorf("statefulset controller: watch pods: %w", err)
	}
	return c, nil
}

// servesClaims reports whether the API serves core/v1
// persistentvolumeclaims.
func servesClaims(client kubernetes.Interface) (bool, error) {
	list, err := client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("discover core/v1 resources: %w", err)
	}
	for _, r := range list.APIResources {
		if r.Name == "persistentvolumeclaims" {
			return true, nil
		}
	}
	return false, nil
}

// Run syncs StatefulSets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.worker.Run(ctx, c.workers)
	return nil
}

// setFor returns the StatefulSet a controller reference points to, if it
// exists with that UID.
func (c *Controller) setFor(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref.Kind != setKind.Kind {
		return nil
	}
	set, err := c.sets.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// setsSelecting returns the sets whose selector matches an orphan pod.
func (c *Controller) setsSelecting(pod *corev1.Pod) []*appsv1.StatefulSet {
	sets, err := c.sets.GetPodStatefulSets(pod)
	if err != nil {
		return nil
	}
	if len(sets) > 1 {
		c.logger.Warn("more than one statefulset selects a pod", "pod", pod.Namespace+"/"+pod.Name, "labels", pod.Labels)
	}
	return sets
}

func (c *Controller) enqueue(set *appsv1.StatefulSet) { c.worker.AddObject(set) }

func (c *Controller) onPodAdd(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.onPodDelete(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if set := c.setFor(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.setsSelecting(pod) {
		c.enqueue(set)
	}
}

func (c *Controller) onPodUpdate(old, cur interface{}) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(oldPod.Labels, curPod.Labels)
	oldRef, curRef := metav1.GetControllerOf(oldPod), metav1.GetControllerOf(curPod)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if set := c.setFor(oldPod.Namespace, oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef != nil {
		set := c.setFor(curPod.Namespace, curRef)
		if set == nil {
			return
		}
		c.enqueue(set)
		// Look again once the pod has been ready for minReadySeconds (one
		// second more against clock skew).
		if !isReady(oldPod) && isReady(curPod) && set.Spec.MinReadySeconds > 0 {
			k, _ := cache.MetaNamespaceKeyFunc(set)
			c.worker.AddAfter(k, time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, set := range c.setsSelecting(curPod) {
			c.enqueue(set)
		}
	}
}

func (c *Controller) onPodDelete(obj interface{}) {
	pod, ok := informer.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if set := c.setFor(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
	}
}

// sync brings one StatefulSet ("namespace/name") to its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get statefulset %s: %w", key, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		// Not transient: retrying will not help.
		c.logger.Error("invalid selector", "statefulset", key, "err", err)
		return nil
	}
	if err := c.adoptOrphanRevisions(ctx, set, selector); err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	status, err := c.update(ctx, set, selector, pods)
	if err != nil {
		return fmt.Errorf("sync statefulset %s: %w", key, err)
	}
	// Look again when pods may have become available.
	if set.Spec.MinReadySeconds > 0 && status != nil && status.AvailableReplicas != replicas(set) {
		c.worker.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

// canAdopt re-reads set from the API before anything is adopted.
func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(context.Context) error {
	return history.OwnerStillThere(set, "StatefulSet", func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// claimPods returns the pods set owns, adopting orphans named after it that
// its selector matches and releasing those it owns that no longer match.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	claimer := &history.Claimer{
		Owner: set, Kind: setKind,
		Match: func(o metav1.Object) bool {
			return selector.Matches(labels.Set(o.GetLabels())) && isMemberOf(set, o.(*corev1.Pod))
		},
		CanAdopt: c.canAdopt(set),
		Patch: func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(set.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	var owned []*corev1.Pod
	var errs []error
	for _, p := range all {
		ok, err := claimer.Claim(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			owned = append(owned, p)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("claim pods of statefulset %s/%s: %w", set.Namespace, set.Name, errs[0])
	}
	return owned, nil
}

// adoptOrphanRevisions makes set the controller of the uncontrolled
// revisions its selector matches.
func (c *Controller) adoptOrphanRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) error {
	revs, err := c.history.List(set, selector)
	if err != nil {
		return err
	}
	var orphans []*appsv1.ControllerRevision
	for _, r := range revs {
		if metav1.GetControllerOfNoCopy(r) == nil {
			orphans = append(orphans, r)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	if err := c.canAdopt(set)(ctx); err != nil {
		return fmt.Errorf("can't adopt ControllerRevisions: %w", err)
	}
	for _, r := range orphans {
		if _, err := c.history.Adopt(ctx, set, setKind, r); err != nil {
			return err
		}
	}
	return nil
}
