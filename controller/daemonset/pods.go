package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"berth/controller/history"
)

// templateGenerationLabel carries the DaemonSet's template generation
// (annotation deprecated.daemonset.template.generation) on its pods.
const templateGenerationLabel = "pod-template-generation"

// templateGeneration reads ds's deprecated.daemonset.template.generation
// annotation; nil if absent or unreadable.
func templateGeneration(ds *appsv1.DaemonSet) *int64 {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// isUpdated reports whether pod is at ds's current template: its revision
// hash label is hash, or its template generation label is generation.
func isUpdated(pod *corev1.Pod, hash string, generation *int64) bool {
	if generation != nil && pod.Labels[templateGenerationLabel] == strconv.FormatInt(*generation, 10) {
		return true
	}
	return hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isAvailable reports whether pod has been Ready for minReadySeconds at now.
func isAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	d := time.Duration(minReadySeconds) * time.Second
	return minReadySeconds == 0 || (!c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now))
}

// sortOldestFirst orders pods bound to a node first, then by creation time,
// then by name.
func sortOldestFirst(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// daemonPods returns the pods ds owns, adopting orphans its selector
// matches and releasing those it owns that no longer match.
func (c *Controller) daemonPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of daemonset %s: %w", dsKey(ds), err)
	}
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods of daemonset %s: %w", dsKey(ds), err)
	}
	claimer := &history.Claimer{
		Owner: ds, Kind: dsKind,
		Match:    func(o metav1.Object) bool { return selector.Matches(labels.Set(o.GetLabels())) },
		CanAdopt: c.canAdopt(ds),
		Patch: func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	var owned []*corev1.Pod
	var errs []error
	for _, p := range all {
		ok, err := claimer.Claim(ctx, p)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			owned = append(owned, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("claim pods of daemonset %s: %w", dsKey(ds), err)
	}
	return owned, nil
}

// canAdopt re-reads ds from the API before anything is adopted.
func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(context.Context) error {
	return history.OwnerStillThere(ds, "DaemonSet", func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
}

// podsByNode groups ds's pods by the node they are for.
func (c *Controller) podsByNode(ctx context.Context, ds *appsv1.DaemonSet) (map[string][]*corev1.Pod, error) {
	pods, err := c.daemonPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		node, err := targetNode(p)
		if err != nil {
			c.logger.Info("daemon pod is for no node", "daemonset", dsKey(ds), "pod", p.Name, "err", err)
			continue
		}
		out[node] = append(out[node], p)
	}
	return out, nil
}

// allowsSurge reports whether ds's rolling update may add pods.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}

// podsOnNode decides, for one node, whether a daemon pod must be created
// there and which of its pods must go: failed pods (after a back-off),
// extra pods (all but the oldest, or during a surge all but the oldest old
// and oldest new), and all pods of a node where none may stay.
func (c *Controller) podsOnNode(node *corev1.Node, byNode map[string][]*corev1.Pod, ds *appsv1.DaemonSet, hash string) (create bool, remove []string) {
	run, keep := shouldRun(node, ds)
	pods, exists := byNode[node.Name]
	switch {
	case run && !exists:
		return true, nil
	case keep:
		var running []*corev1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Status.Phase != corev1.PodFailed {
				running = append(running, p)
				continue
			}
			// A failed daemon pod is replaced, but not in a hot loop
			// with a kubelet that keeps rejecting it.
			backoffKey := string(ds.UID) + "/" + strconv.FormatInt(ds.Status.ObservedGeneration, 10) + "/" + node.Name
			now := c.failedBackoff.Clock.Now()
			if c.failedBackoff.IsInBackOffSinceUpdate(backoffKey, now) {
				delay := c.failedBackoff.Get(backoffKey)
				c.logger.Debug("deleting failed pod is backed off", "daemonset", dsKey(ds), "pod", p.Name, "node", node.Name, "delay", delay)
				c.worker.AddAfter(dsKey(ds), delay)
				continue
			}
			c.failedBackoff.Next(backoffKey, now)
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod",
				"Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
			remove = append(remove, p.Name)
		}
		if !allowsSurge(ds) {
			if len(running) > 1 {
				sortOldestFirst(running)
				for _, p := range running[1:] {
					remove = append(remove, p.Name)
				}
			}
			return false, remove
		}
		if len(running) <= 1 {
			// Surging needs a live pod on the node.
			return len(running) == 0 && run, remove
		}
		// During a surge, keep the oldest pod at the current revision and
		// the oldest other one; the old one goes once the new one is
		// available, or at once if it is not ready.
		var oldestNew, oldestOld *corev1.Pod
		sortOldestFirst(running)
		for _, p := range running {
			switch {
			case p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash && oldestNew == nil:
				oldestNew = p
			case p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash && oldestOld == nil:
				oldestOld = p
			default:
				remove = append(remove, p.Name)
			}
		}
		if oldestNew != nil && oldestOld != nil &&
			(!isReady(oldestOld) || isAvailable(oldestNew, ds.Spec.MinReadySeconds, c.now())) {
			remove = append(remove, oldestOld.Name)
		}
		return false, remove
	case exists:
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				remove = append(remove, p.Name)
			}
		}
	}
	return false, remove
}

// manage creates the daemon pods nodes lack and deletes the ones that must
// go, including unscheduled pods for nodes that no longer exist.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.podsByNode(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	var create, remove []string
	exists := make(map[string]bool, len(nodes))
	for _, node := range nodes {
		exists[node.Name] = true
		need, gone := c.podsOnNode(node, byNode, ds, hash)
		if need {
			create = append(create, node.Name)
		}
		remove = append(remove, gone...)
	}
	for node, pods := range byNode {
		if exists[node] {
			continue
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" {
				remove = append(remove, p.Name)
			}
		}
	}
	return c.syncNodes(ctx, ds, remove, create, hash)
}

// podTemplate is ds's template as its pods get it: with the daemon
// tolerations, the template generation and the revision hash labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if g := templateGeneration(ds); g != nil {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(*g, 10)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// newPod returns the daemon pod of ds for node.
func newPod(ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) *corev1.Pod {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateNamePrefix(ds.Name),
			Namespace:       ds.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Affinity = nodeAffinityFor(pod.Spec.Affinity, node)
	return pod
}

// generateNamePrefix is "<name>-", or the name if that is no valid prefix.
func generateNamePrefix(name string) string {
	if len(validation.IsDNS1123Subdomain(name+"a")) != 0 {
		return name
	}
	return name + "-"
}

// syncNodes deletes the pods in remove and creates a pod for each node in
// create, at most BurstReplicas of each, creating in batches of 1, 2, 4, ...
// that stop at the first failure.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, remove, create []string, hash string) error {
	key := dsKey(ds)
	creates, deletes := min(len(create), c.cfg.BurstReplicas), min(len(remove), c.cfg.BurstReplicas)
	c.expectations.expect(key, creates, deletes)
	template := podTemplate(ds, hash)

	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	if creates > 0 {
		c.logger.Debug("creating daemon pods", "daemonset", key, "nodes", create[:creates])
	}
	for pos, batch := 0, min(creates, 1); pos < creates; pos, batch = pos+batch, min(2*batch, creates-pos-batch) {
		before := len(errs)
		var wg sync.WaitGroup
		for _, node := range create[pos : pos+batch] {
			wg.Add(1)
			go func(node string) {
				defer wg.Done()
				if err := c.createPod(ctx, ds, template, node); err != nil {
					c.expectations.observed(key, 1, 0)
					if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						fail(err)
					}
				}
			}(node)
		}
		wg.Wait()
		if skipped := creates - pos - batch; len(errs) > before && skipped > 0 {
			// Do not expect what will not be attempted; the next sync retries.
			c.expectations.observed(key, skipped, 0)
			break
		}
	}
	var wg sync.WaitGroup
	for _, name := range remove[:deletes] {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if err := c.deletePod(ctx, ds, name); err != nil {
				c.expectations.observed(key, 0, 1)
				if !apierrors.IsNotFound(err) {
					fail(err)
				}
			}
		}(name)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createPod creates ds's pod for node, recording the event Kubernetes
// records ("Created pod: <name>", or "Error creating: <err>").
func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	pod := newPod(ds, template, node)
	if len(pod.Labels) == 0 {
		return errors.New("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("create daemon pod for node %s: %w", node, err)
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// deletePod deletes one of ds's pods, recording Kubernetes' events
// ("Deleted pod: <name>", or "Error deleting: <err>").
func (c *Controller) deletePod(ctx context.Context, ds *appsv1.DaemonSet, name string) error {
	err := c.client.CoreV1().Pods(ds.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", name)
	return nil
}
