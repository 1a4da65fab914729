package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	// nodeStatusUpdateRetry is how many times a status write is tried
	// (the kubelet's).
	nodeStatusUpdateRetry = 5
	// notReadyInterval is the status period while the node is not Ready.
	notReadyInterval = time.Second
	// Registration retries back off from 100ms to 7s, as the kubelet's.
	registerBackoffMin = 100 * time.Millisecond
	registerBackoffMax = 7 * time.Second
)

// Node registers one node and keeps its Lease and status up to date.
type Node struct {
	cfg        Config
	log        *slog.Logger
	host       *host
	in         statusInput
	registered chan struct{}
	started    atomic.Bool
	// uid is the Node's UID as last seen, for the Lease's owner.
	uid atomic.Value // types.UID

	// Used by the status goroutine only.
	rt         runtimeState
	pressure   pressureMemory
	images     []corev1.ContainerImage
	lastReport time.Time
	lastReady  corev1.ConditionStatus
	gone       bool
	recorder   record.EventRecorder
}

// New checks cfg, fills its defaults and detects the addresses if none
// are given.
func New(cfg Config) (*Node, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if len(cfg.Addresses) == 0 {
		addrs, err := DetectAddresses(cfg.Name)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", cfg.Name, err)
		}
		cfg.Addresses = addrs
	}
	ts, _ := parseThresholds(cfg.EvictionHard) // checked by Validate
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("node", cfg.Name),
		host:       newHost(cfg.CgroupRoot),
		registered: make(chan struct{}),
		pressure:   pressureMemory{period: cfg.PressureTransitionPeriod},
		in: statusInput{
			addresses: slices.Clone(cfg.Addresses), port: cfg.DaemonPort, version: cfg.Version,
			maxPods: cfg.MaxPods, reserved: cfg.Reserved.DeepCopy(), thresholds: ts,
		},
	}
	n.uid.Store(types.UID(""))
	return n, nil
}

// Registered is closed once the Node object exists (created, or an
// existing one reconciled).
func (n *Node) Registered() <-chan struct{} { return n.registered }

// Run registers the node, then renews its Lease and posts its status
// until ctx ends. It returns nil when ctx ends; it may run only once.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("node: Run called twice")
	}
	stop := n.startRecorder()
	defer stop()
	n.recorder.Eventf(n.ref(), corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	if !n.registerLoop(ctx) {
		return nil
	}
	close(n.registered)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.runLease(ctx)
	}()
	n.runStatus(ctx)
	wg.Wait()
	return nil
}

// startRecorder sets up the node's event recorder; the returned function
// stops it.
func (n *Node) startRecorder() func() {
	if n.cfg.Recorder != nil {
		n.recorder = n.cfg.Recorder
		return func() {}
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: n.cfg.Client.CoreV1().Events("")})
	n.recorder = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.cfg.Name})
	return b.Shutdown
}

// ref is the node as the kubelet names it in events: its UID is its name
// (kubectl describe node looks for both).
func (n *Node) ref() *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: n.cfg.Name, UID: types.UID(n.cfg.Name)}
}

func (n *Node) nodeEvent(reason string) {
	n.recorder.Eventf(n.ref(), corev1.EventTypeNormal, reason, "Node %s status is now: %s", n.cfg.Name, reason)
}

// registerLoop registers until it succeeds (true) or ctx ends (false).
func (n *Node) registerLoop(ctx context.Context) bool {
	wait := registerBackoffMin
	for {
		err := n.register(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		n.log.Warn("register node", "err", err, "retry", wait)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(wait*2, registerBackoffMax)
	}
}

// register creates the Node with its full status, or reconciles the
// existing one of that name as the kubelet does (default labels, the
// attach/detach annotation; taints and other labels stay as they are),
// and then posts its status.
func (n *Node) register(ctx context.Context) error {
	o := n.observe(ctx)
	want, events := n.initialNode(o)
	created, err := n.cfg.Client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		n.uid.Store(created.UID)
		n.log.Info("node registered")
		n.reported(o.now, &want.Status, events)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node: %w", err)
	}
	existing, err := n.reconcile(ctx, want)
	if err != nil {
		return err
	}
	n.uid.Store(existing.UID)
	n.log.Info("node was previously registered")
	// The status of an existing node is the status loop's first write.
	return nil
}

// initialNode is the Node the kubelet registers, and the events its
// status calls for.
func (n *Node) initialNode(o *observation) (*corev1.Node, []string) {
	labels := map[string]string{
		corev1.LabelHostname:   n.cfg.Name,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
		labelOSBeta:            goruntime.GOOS,
		labelArchBeta:          goruntime.GOARCH,
	}
	for k, v := range n.cfg.Labels {
		labels[k] = v
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.cfg.Name,
			Labels:      labels,
			Annotations: map[string]string{annotationCMAD: "true"},
		},
	}
	if len(n.cfg.Taints) > 0 {
		node.Spec.Taints = slices.Clone(n.cfg.Taints)
	}
	if n.cfg.PodCIDR != "" {
		node.Spec.PodCIDR, node.Spec.PodCIDRs = n.cfg.PodCIDR, []string{n.cfg.PodCIDR}
	}
	var events []string
	node.Status, events = n.in.buildStatus(&corev1.NodeStatus{}, o)
	return node, events
}

// reconcile brings an existing Node in line with want: the kubelet's
// default labels and the attach/detach annotation; a pod CIDR if it has
// none and the agent knows one.
func (n *Node) reconcile(ctx context.Context, want *corev1.Node) (*corev1.Node, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	for attempt := 0; ; attempt++ {
		existing, err := nodes.Get(ctx, n.cfg.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get existing node: %w", err)
		}
		upd := existing.DeepCopy()
		if !reconcileNode(upd, want) {
			return existing, nil
		}
		got, err := nodes.Update(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			return got, nil
		}
		if !apierrors.IsConflict(err) || attempt >= nodeStatusUpdateRetry {
			return nil, fmt.Errorf("reconcile existing node: %w", err)
		}
	}
}

// reconcileNode changes existing as reconcile says and tells whether
// anything changed.
func reconcileNode(existing, want *corev1.Node) bool {
	changed := false
	if existing.Labels == nil {
		existing.Labels = map[string]string{}
	}
	// The default labels the kubelet keeps in line on an existing node.
	for _, k := range []string{corev1.LabelHostname, corev1.LabelOSStable, corev1.LabelArchStable, labelOSBeta, labelArchBeta} {
		v, ok := want.Labels[k]
		if ok && existing.Labels[k] != v {
			existing.Labels[k] = v
			changed = true
		}
	}
	if v := want.Annotations[annotationCMAD]; existing.Annotations[annotationCMAD] != v {
		if existing.Annotations == nil {
			existing.Annotations = map[string]string{}
		}
		existing.Annotations[annotationCMAD] = v
		changed = true
	}
	if existing.Spec.PodCIDR == "" && len(existing.Spec.PodCIDRs) == 0 && want.Spec.PodCIDR != "" {
		existing.Spec.PodCIDR, existing.Spec.PodCIDRs = want.Spec.PodCIDR, slices.Clone(want.Spec.PodCIDRs)
		changed = true
	}
	return changed
}

// observe measures the host and asks the runtime, for one status.
func (n *Node) observe(ctx context.Context) *observation {
	now := n.cfg.Now()
	if err := n.rt.check(ctx, n.cfg.Runtime, now); err != nil && ctx.Err() == nil {
		n.log.Debug("container runtime check", "err", err)
	}
	s, err := n.host.observe(n.cfg.RootDir)
	if err != nil {
		n.log.Debug("host readings incomplete", "err", err)
	}
	if imgs, err := n.listImages(ctx); err != nil {
		if ctx.Err() == nil {
			n.log.Debug("list images", "err", err)
		}
	} else {
		n.images = imgs
	}
	return &observation{
		now:      now,
		host:     s,
		runtime:  &n.rt,
		readyErr: n.rt.readyErr(now, n.cfg.HealthChecks),
		pressure: n.pressure.observe(n.in.thresholds.evaluate(s), now),
		images:   n.images,
	}
}

func (n *Node) listImages(ctx context.Context) ([]corev1.ContainerImage, error) {
	ctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	resp, err := n.cfg.Images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return nil, err
	}
	return nodeImages(resp.Images), nil
}

// reported notes a status st written at now: its Ready status, logged
// when it changes, and the events it calls for.
func (n *Node) reported(now time.Time, st *corev1.NodeStatus, events []string) {
	n.lastReport = now
	ready := readyCondition(st)
	if ready.Status != n.lastReady {
		if ready.Status == corev1.ConditionTrue {
			n.log.Info("node ready")
		} else {
			n.log.Warn("node not ready", "reason", ready.Message)
		}
	}
	n.lastReady = ready.Status
	for _, e := range events {
		n.nodeEvent(e)
	}
}

// runStatus posts the status every StatusInterval (every second while
// the node is not Ready) until ctx ends.
func (n *Node) runStatus(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := n.syncStatus(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("update node status", "err", err)
		}
		next := n.cfg.StatusInterval
		if n.lastReady != corev1.ConditionTrue {
			next = min(next, notReadyInterval)
		}
		timer.Reset(next)
	}
}

// syncStatus computes the status and writes it if it changed or the
// report interval has passed, retrying on errors. A Node deleted after
// registration is left alone: as the kubelet, the agent registers again
// only when it restarts.
func (n *Node) syncStatus(ctx context.Context) error {
	o := n.observe(ctx)
	nodes := n.cfg.Client.CoreV1().Nodes()
	var lastErr error
	for attempt := 0; attempt < nodeStatusUpdateRetry; attempt++ {
		opts := metav1.GetOptions{}
		if attempt == 0 {
			opts.ResourceVersion = "0" // served from the API server's cache
		}
		node, err := nodes.Get(ctx, n.cfg.Name, opts)
		if apierrors.IsNotFound(err) && opts.ResourceVersion != "" {
			continue // the cache may lag behind: ask etcd
		}
		if apierrors.IsNotFound(err) {
			if !n.gone {
				n.log.Warn("node object deleted; status is not posted until the agent restarts")
			}
			n.gone = true
			n.uid.Store(types.UID("")) // a new Lease gets no owner
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			lastErr = fmt.Errorf("get node: %w", err)
			continue
		}
		n.gone = false
		n.uid.Store(node.UID)
		st, events := n.in.buildStatus(&node.Status, o)
		due := !o.now.Before(n.lastReport.Add(n.cfg.StatusReportInterval))
		if !due && !statusChanged(&node.Status, &st) {
			n.lastReady = readyCondition(&st).Status
			return nil
		}
		upd := node.DeepCopy()
		upd.Status = st
		if _, err := nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			lastErr = fmt.Errorf("update status: %w", err)
			continue
		}
		n.reported(o.now, &st, events)
		return nil
	}
	return lastErr
}
