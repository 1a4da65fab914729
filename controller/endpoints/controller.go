package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth/controller"
	"berth/controller/endpoints/endpointutil"
)

// Name is the controller's name, as kube-controller-manager's.
const Name = "endpoints-controller"

// component is the source of the controller's events.
const component = "endpoint-controller"

const (
	// overCapacityTruncated is the over-capacity annotation's value.
	overCapacityTruncated = "truncated"
	// leaderAnnotation marks Endpoints used as leader-election locks, which
	// have no Service and must not be deleted.
	leaderAnnotation = "control-plane.alpha.kubernetes.io/leader"
)

// Controller is the endpoints controller.
type Controller struct {
	client   kubernetes.Interface
	logger   *slog.Logger
	recorder record.EventRecorder
	workers  int

	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	worker    *controller.Worker

	triggers *endpointutil.TriggerTimeTracker
	// equal compares subsets ignoring the targets' resourceVersions.
	equal conversion.Equalities

	mu    sync.Mutex
	stale map[string]string // resourceVersions of Endpoints this controller replaced
}

var _ controller.Controller = (*Controller)(nil)

// New returns the controller; it registers its informers' handlers.
func New(s *controller.Shared) (controller.Controller, error) {
	return newController(s)
}

func newController(s *controller.Shared) (*Controller, error) {
	opts := s.Options
	opts.Defaults()
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", Name)
	c := &Controller{
		client:   s.Client,
		logger:   logger,
		recorder: s.Recorder(component),
		workers:  opts.Workers,
		triggers: endpointutil.NewTriggerTimeTracker(),
		equal: conversion.EqualitiesOrDie(func(a, b corev1.ObjectReference) bool {
			a.ResourceVersion, b.ResourceVersion = "", ""
			return a == b
		}),
		stale: map[string]string{},
	}
	c.worker = controller.NewWorker(Name, logger, c.sync)
	services := s.Informers.Core().V1().Services()
	pods := s.Informers.Core().V1().Pods()
	endpoints := s.Informers.Core().V1().Endpoints()
	c.services, c.pods, c.endpoints = services.Lister(), pods.Lister(), endpoints.Lister()
	c.synced = []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced, endpoints.Informer().HasSynced}

	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) { c.worker.AddObject(obj) },
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("%s: service handler: %w", Name, err)
	}
	if _, err := pods.Informer().AddEventHandler(endpointutil.PodHandler(c.services, c.worker.Add, logger)); err != nil {
		return nil, fmt.Errorf("%s: pod handler: %w", Name, err)
	}
	if _, err := endpoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.worker.AddObject,
	}); err != nil {
		return nil, fmt.Errorf("%s: endpoints handler: %w", Name, err)
	}
	return c, nil
}

// Run keeps Endpoints until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	c.logger.Info("starting controller")
	defer c.logger.Info("stopping controller")
	c.checkLeftoverEndpoints()
	c.worker.Run(ctx, c.workers)
	return nil
}

// checkLeftoverEndpoints queues every Endpoints object, so that those
// whose Service went while the controller was not running are deleted.
func (c *Controller) checkLeftoverEndpoints() {
	list, err := c.endpoints.List(labels.Everything())
	if err != nil {
		c.logger.Error("list endpoints; orphans will not be cleaned up", "err", err)
		return
	}
	for _, ep := range list {
		if _, ok := ep.Annotations[leaderAnnotation]; ok {
			continue
		}
		c.worker.AddObject(ep)
	}
}

// sync makes a Service's Endpoints match its pods.
func (c *Controller) sync(ctx context.Context, key string) (retErr error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its Endpoints.
		err := c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		c.triggers.Delete(namespace, name)
		c.mu.Lock()
		delete(c.stale, key)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	// Computed on every sync, so that the tracker sees every state; the
	// state counts as published only once the sync succeeded.
	trigger, commit := c.triggers.Compute(namespace, svc, pods)
	defer func() {
		if retErr == nil {
			commit()
		}
	}()
	subsets := desiredSubsets(svc, pods)

	current, err := c.endpoints.Endpoints(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		current = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: svc.Labels}}
	case err != nil:
		return err
	case c.isStale(key, current):
		return fmt.Errorf("endpoints informer cache is out of date, resource version %s already processed for endpoints %s", current.ResourceVersion, key)
	}
	create := current.ResourceVersion == ""
	compareLabels := current.Labels
	if _, ok := compareLabels[corev1.IsHeadlessService]; ok {
		compareLabels = maps.Clone(compareLabels)
		delete(compareLabels, corev1.IsHeadlessService)
	}
	if !create && c.equal.DeepEqual(current.Subsets, subsets) &&
		apiequality.Semantic.DeepEqual(compareLabels, svc.Labels) &&
		capacityAnnotationSetCorrectly(current.Annotations, current.Subsets) {
		return nil
	}

	ep := current.DeepCopy()
	ep.Subsets = subsets
	ep.Labels = maps.Clone(svc.Labels)
	if ep.Labels == nil {
		ep.Labels = map[string]string{}
	}
	if !endpointutil.IsServiceIPSet(svc) {
		ep.Labels[corev1.IsHeadlessService] = ""
	}
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	if trigger.IsZero() {
		delete(ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		ep.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
	if truncate(ep) {
		ep.Annotations[corev1.EndpointsOverCapacity] = overCapacityTruncated
	} else {
		delete(ep.Annotations, corev1.EndpointsOverCapacity)
	}

	if create {
		_, err = c.client.CoreV1().Endpoints(namespace).Create(ctx, ep, metav1.CreateOptions{})
		if err != nil {
			if apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			c.recorder.Eventf(ep, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s/%s: %v", namespace, name, err)
			return fmt.Errorf("create endpoints %s: %w", key, err)
		}
		return nil
	}
	updated, err := c.client.CoreV1().Endpoints(namespace).Update(ctx, ep, metav1.UpdateOptions{})
	if err != nil {
		c.recorder.Eventf(ep, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s/%s: %v", namespace, name, err)
		return fmt.Errorf("update endpoints %s: %w", key, err)
	}
	if updated.ResourceVersion != current.ResourceVersion {
		c.mu.Lock()
		c.stale[key] = current.ResourceVersion
		c.mu.Unlock()
	}
	return nil
}

// isStale reports whether the cached Endpoints are a version this
// controller already replaced.
func (c *Controller) isStale(key string, ep *corev1.Endpoints) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rv, ok := c.stale[key]
	return ok && rv == ep.ResourceVersion
}

// capacityAnnotationSetCorrectly: Endpoints over capacity must be
// truncated (so are not correct as they are); under it they must not
// carry the annotation.
func capacityAnnotationSetCorrectly(annotations map[string]string, subsets []corev1.EndpointSubset) bool {
	n := 0
	for _, s := range subsets {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if n > maxCapacity {
		return false
	}
	_, ok := annotations[corev1.EndpointsOverCapacity]
	return !ok
}
