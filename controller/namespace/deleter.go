package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
)

// finalizerEstimateSeconds is how long objects with finalizers are
// assumed to take to go (Kubernetes' value).
const finalizerEstimateSeconds = 15

// remainingError: content is still going away; try again after Estimate
// seconds' worth of waiting (Kubernetes waits Estimate/2+1).
type remainingError struct{ Estimate int64 }

func (e *remainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

// deleter empties namespaces marked for deletion and finalizes them.
type deleter struct {
	client    kubernetes.Interface
	md        metadata.Interface
	discovery discovery.ServerResourcesInterface
	now       func() time.Time
	logger    *slog.Logger
}

// delete runs one pass over namespace name. It returns a *remainingError
// when content is still on its way out.
func (d *deleter) delete(ctx context.Context, name string) error {
	nsc := d.client.CoreV1().Namespaces()
	ns, err := nsc.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	ns, err = d.retryOnConflict(ctx, ns, d.markTerminating)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark namespace %s terminating: %w", name, err)
	}
	if ns.DeletionTimestamp == nil || len(ns.Spec.Finalizers) == 0 {
		return nil
	}
	estimate, err := d.deleteAllContent(ctx, ns)
	if err != nil {
		return fmt.Errorf("delete content of namespace %s: %w", name, err)
	}
	if estimate > 0 {
		return &remainingError{Estimate: estimate}
	}
	_, err = d.retryOnConflict(ctx, ns, d.finalize)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	d.logger.Info("namespace emptied and finalized", "namespace", name)
	return nil
}

// retryOnConflict calls fn until it does not conflict, on the latest
// namespace, as long as it keeps its uid.
func (d *deleter) retryOnConflict(ctx context.Context, ns *corev1.Namespace, fn func(context.Context, *corev1.Namespace) (*corev1.Namespace, error)) (*corev1.Namespace, error) {
	for {
		out, err := fn(ctx, ns)
		if !apierrors.IsConflict(err) {
			return out, err
		}
		latest, gerr := d.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if latest.UID != ns.UID {
			return nil, errors.New("namespace uid has changed across retries")
		}
		ns = latest
	}
}

// markTerminating sets the Terminating phase (the API server normally has).
func (d *deleter) markTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.DeletionTimestamp == nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	ns = ns.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	return d.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
}

// finalize removes the "kubernetes" finalizer through namespaces/finalize.
func (d *deleter) finalize(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	keep := sets.New[string]()
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep.Insert(string(f))
		}
	}
	out := &corev1.Namespace{ObjectMeta: ns.ObjectMeta, Spec: ns.Spec}
	out.Spec.Finalizers = make([]corev1.FinalizerName, 0, keep.Len())
	for _, f := range sets.List(keep) {
		out.Spec.Finalizers = append(out.Spec.Finalizers, corev1.FinalizerName(f))
	}
	res, err := d.client.CoreV1().Namespaces().Finalize(ctx, out, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return ns, nil
	}
	return res, err
}

// namespacedResource is a resource to empty and the verbs it supports.
type namespacedResource struct {
	gvr   schema.GroupVersionResource
	verbs sets.Set[string]
}

// podsResource is deleted before anything else.
func podsResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Version: "v1", Resource: "pods"}
}

// deleteAllContent deletes everything in ns — pods first — records the
// conditions, and returns an estimate in seconds of how long what remains
// will take to go (0: nothing remains).
func (d *deleter) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	cond := &conditions{now: d.now()}
	var errs []error
	lists, err := d.discovery.ServerPreferredNamespacedResources()
	if err != nil {
		// Not fatal: empty what was discovered.
		errs = append(errs, err)
		cond.discoveryFailed(err)
	}
	lists = discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete"}}, lists)
	var resources []namespacedResource
	var gvErrs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			gvErrs = append(gvErrs, err)
			continue
		}
		for _, r := range l.APIResources {
			resources = append(resources, namespacedResource{gvr: gv.WithResource(r.Name), verbs: sets.New(r.Verbs...)})
		}
	}
	if len(gvErrs) > 0 {
		err := fmt.Errorf("failed to parse group versions: %w", errors.Join(gvErrs...))
		errs = append(errs, err)
		cond.groupVersionFailed(err)
	}
	// Pods go first, so that nothing they rely on (network policies,
	// secrets, ...) goes while they run (OrderedNamespaceDeletion).
	slices.SortStableFunc(resources, func(a, b namespacedResource) int {
		switch {
		case a.gvr == podsResource():
			return -1
		case b.gvr == podsResource():
			return 1
		}
		return 0
	})

	left := newRemaining()
	var estimate int64
	for i, r := range resources {
		c, err := d.deleteResource(ctx, r, ns)
		if err != nil {
			errs = append(errs, err)
			cond.deleteFailed(err)
		}
		estimate = max(estimate, c.estimate)
		left.add(r.gvr, c)
		if i == 0 && r.gvr == podsResource() && c.left > 0 {
			// Everything else waits for the pods.
			break
		}
	}
	cond.contentLeft(left)
	if cond.apply(&ns.Status) {
		if _, err := d.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			d.logger.Info("namespace conditions not updated", "namespace", ns.Name, "err", err)
		}
	}
	return estimate, errors.Join(errs...)
}

// content is what remains of one resource after a deletion pass.
type content struct {
	// estimate in seconds of how long the rest takes to go.
	estimate int64
	// left: instances remaining.
	left int
	// finalizers: instances remaining per finalizer they hold.
	finalizers map[string]int
}

// deleteResource deletes every instance of r in ns and counts what is left.
func (d *deleter) deleteResource(ctx context.Context, r namespacedResource, ns *corev1.Namespace) (content, error) {
	estimate, err := d.estimate(ctx, r.gvr, ns)
	if err != nil {
		return content{}, err
	}
	rc := d.md.Resource(r.gvr).Namespace(ns.Name)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	collection := r.verbs.Has("deletecollection")
	if collection {
		err := rc.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			collection = false
		case err != nil:
			return content{estimate: estimate}, err
		}
	}
	if !r.verbs.Has("list") {
		return content{estimate: estimate}, nil
	}
	if !collection {
		l, err := rc.List(ctx, metav1.ListOptions{})
		if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
			return content{estimate: estimate}, nil
		}
		if err != nil {
			return content{estimate: estimate}, err
		}
		for _, it := range l.Items {
			err := rc.Delete(ctx, it.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				return content{estimate: estimate}, err
			}
		}
	}
	l, err := rc.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return content{estimate: estimate}, nil
	}
	if err != nil {
		return content{estimate: estimate}, err
	}
	if len(l.Items) == 0 {
		return content{}, nil
	}
	c := content{estimate: estimate, left: len(l.Items), finalizers: map[string]int{}}
	for _, it := range l.Items {
		for _, f := range it.Finalizers {
			c.finalizers[f]++
		}
	}
	switch {
	case estimate > 0:
		return c, nil
	case len(c.finalizers) > 0:
		// Finalizers are normal: give them time.
		c.estimate = finalizerEstimateSeconds
		return c, nil
	}
	return c, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns.Name, r.gvr)
}

// estimate is how long instances of gvr may take to go: for pods, the
// longest grace period of those not terminated, counted from the
// namespace's deletion.
func (d *deleter) estimate(ctx context.Context, gvr schema.GroupVersionResource, ns *corev1.Namespace) (int64, error) {
	if gvr.GroupResource() != podsResource().GroupResource() {
		return 0, nil
	}
	pods, err := d.client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	var estimate int64
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	if d.now().Sub(ns.DeletionTimestamp.Time) >= time.Duration(estimate)*time.Second {
		return 0, nil
	}
	return estimate, nil
}
