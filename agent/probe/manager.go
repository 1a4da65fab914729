package probe

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Kind is the kind of a probe, spelled as Kubernetes' events spell it.
type Kind string

// The probe kinds of a container.
const (
	Liveness  Kind = "Liveness"
	Readiness Kind = "Readiness"
	Startup   Kind = "Startup"
)

// Result is a change of a probe's result for one container.
type Result struct {
	PodUID    types.UID
	Container string
	// ContainerID is the container that was probed: a result for a
	// container that has since been replaced (Start with another ID) is
	// stale and can be ignored.
	ContainerID string
	Kind        Kind
	// Success is the new result. A Liveness or Startup failure means the
	// container must be killed (and restarted as its pod's restartPolicy
	// says); a Readiness result is the container's readiness.
	Success bool
	// Message is the output of the last probe: for a failure, what the
	// Unhealthy event says after "<Kind> probe failed: ".
	Message string
	// TerminationGracePeriodSeconds is the probe's own
	// terminationGracePeriodSeconds, set only on Liveness and Startup
	// failures whose probe sets it: the grace period to kill the container
	// with instead of the pod's.
	TerminationGracePeriodSeconds *int64
}

// Config configures a Manager.
type Config struct {
	// Exec runs a command in a container (CRI ExecSync), for exec probes;
	// ExecFunc makes one from a CRI runtime client. It returns the command's
	// output (stdout then stderr) and exit code; an error that matches
	// context.DeadlineExceeded means the command ran out of its timeout (a
	// probe failure), any other error means it could not be run (a probe
	// error). Nil: exec probes error.
	Exec func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (output []byte, exitCode int32, err error)
	// Recorder records Unhealthy and ProbeWarning events on the pod (nil:
	// no events).
	Recorder record.EventRecorder
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock for initial delays and the start-up jitter
	// (default time.Now).
	Now func() time.Time
}

// Manager runs the probes of the node's containers. Its methods are safe
// for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	timers  timers                            // of the workers; tests replace them
	jitter  func(time.Duration) time.Duration // random wait before a first probe; tests replace it
	start   time.Time
	results chan Result
	http    *http.Transport

	// ctx is the parent of every worker's context; Run cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	containers map[key]*container
}

// timers are the timers and tickers of the workers.
type timers interface {
	After(time.Duration) <-chan time.Time
	NewTicker(time.Duration) clock.Ticker
}

type key struct {
	pod  types.UID
	name string
}

// container is a started container and the state of its probes. Fields
// above mu's line are set by Start and never change.
type container struct {
	key       key
	id        string
	pod       *corev1.Pod
	spec      *corev1.Container
	init      bool // spec is one of the pod's initContainers (a sidecar)
	podIP     string
	startedAt time.Time
	cancel    context.CancelFunc
	// readinessNow asks the readiness worker for a probe at once.
	readinessNow chan struct{}

	// Guarded by Manager.mu.
	started      bool // no startup probe, or it succeeded
	ready        bool // readiness probe's result
	hasReadiness bool
}

// resultsBuffer is how many results may wait for the pod manager before
// the workers that produce more wait too.
const resultsBuffer = 128

// NewManager returns a manager with no containers.
func NewManager(cfg Config) *Manager {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	clk := clock.RealClock{}
	now := cfg.Now
	if now == nil {
		now = clk.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg:        cfg,
		log:        log,
		now:        now,
		timers:     clk,
		jitter:     func(max time.Duration) time.Duration { return rand.N(max) },
		start:      now(),
		results:    make(chan Result, resultsBuffer),
		http:       newHTTPTransport(),
		ctx:        ctx,
		cancel:     cancel,
		containers: map[key]*container{},
	}
}

// Run blocks until ctx ends, then stops every probe and waits for the
// probes in flight to return. Calling it is optional: probes run from
// Start on; Run only makes shutdown clean.
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.cancel()
	m.wg.Wait()
	m.http.CloseIdleConnections()
	return nil
}

// Results delivers probe result changes (see Result). Read it
// continuously: workers wait while it is full.
func (m *Manager) Results() <-chan Result { return m.results }

// Start begins probing a container of pod that started at startedAt with
// the given ID; podIP is the default host of httpGet, tcpSocket and grpc
// probes. Call it for every container that starts, with or without
// probes. Start for a container already probed under the same ID does
// nothing; under another ID (the container was restarted) it resets the
// container's probes. Containers of pod.Spec.Containers and sidecars
// (pod.Spec.InitContainers) are looked up by name.
func (m *Manager) Start(pod *corev1.Pod, podIP, name, containerID string, startedAt time.Time) {
	ctx, workers := m.add(pod, podIP, name, containerID, startedAt)
	for _, w := range workers {
		go w.run(ctx)
	}
}

// add records a started container and returns the workers of its probes,
// counted in m.wg, to run with ctx.
func (m *Manager) add(pod *corev1.Pod, podIP, name, containerID string, startedAt time.Time) (context.Context, []*worker) {
	pod = pod.DeepCopy() // workers read it while the caller goes on
	k := key{pod.UID, name}
	spec, init := findContainer(pod, name)
	if startedAt.IsZero() {
		startedAt = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.containers[k]; old != nil {
		if old.id == containerID {
			return nil, nil
		}
		old.cancel()
	}
	ctx, cancel := context.WithCancel(m.ctx)
	c := &container{
		key: k, id: containerID, pod: pod, spec: spec, init: init, podIP: podIP,
		startedAt: startedAt, cancel: cancel, readinessNow: make(chan struct{}, 1),
		started: true,
	}
	m.containers[k] = c
	if spec == nil {
		m.log.Warn("probe: container not in pod spec", "pod", podName(pod), "container", name)
		return ctx, nil
	}
	var workers []*worker
	for _, p := range []struct {
		kind  Kind
		probe *corev1.Probe
	}{{Startup, spec.StartupProbe}, {Liveness, spec.LivenessProbe}, {Readiness, spec.ReadinessProbe}} {
		if p.probe == nil {
			continue
		}
		switch p.kind {
		case Startup:
			c.started = false
		case Readiness:
			c.hasReadiness = true
		}
		workers = append(workers, &worker{m: m, c: c, kind: p.kind, probe: withDefaults(p.probe)})
		m.wg.Add(1)
	}
	return ctx, workers
}

// Stop stops probing a container (it exited, or is being killed): Ready
// and Started are false for it until the next Start.
func (m *Manager) Stop(podUID types.UID, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{podUID, name}
	if c := m.containers[k]; c != nil {
		c.cancel()
		delete(m.containers, k)
	}
}

// StopPod stops probing every container of a pod.
func (m *Manager) StopPod(podUID types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.containers {
		if k.pod == podUID {
			c.cancel()
			delete(m.containers, k)
		}
	}
}

// Ready reports whether a started container is ready as far as probes
// can tell: it has started (Started) and has no readiness probe, or its
// readiness probe succeeded. False for a container that was not started.
func (m *Manager) Ready(podUID types.UID, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.containers[key{podUID, name}]
	if c == nil || !c.started {
		return false
	}
	return !c.hasReadiness || c.ready
}

// Started reports whether a started container has no startup probe or its
// startup probe succeeded (the containerStatuses[].started field). False
// for a container that was not started.
func (m *Manager) Started(podUID types.UID, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.containers[key{podUID, name}]
	return c != nil && c.started
}

// current reports whether c is still the probed instance of its
// container. Callers hold m.mu.
func (m *Manager) current(c *container) bool {
	return m.containers[c.key] == c
}

// findContainer returns the spec of a container or sidecar of pod.
func findContainer(pod *corev1.Pod, name string) (*corev1.Container, bool) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	return nil, false
}

// withDefaults returns p with the API server's defaults for fields left
// zero (they are normally set already).
func withDefaults(p *corev1.Probe) *corev1.Probe {
	p = p.DeepCopy()
	if p.TimeoutSeconds <= 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds <= 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = 3
	}
	return p
}
