package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Plugin directory names under <Root>/<pod uid>/volumes, as the kubelet
// names them.
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"
)

// DefaultResyncPeriod is how often Run refreshes every pod's API-backed
// volumes when nothing asked for it.
const DefaultResyncPeriod = 10 * time.Second

// Config configures a Manager.
type Config struct {
	// Root holds the volumes: <Root>/<pod uid>/volumes/<plugin>/<name>.
	// Required.
	Root string
	// Client reads ConfigMaps and Secrets, the Node (allocatable, for
	// resourceFieldRef without limits and tmpfs sizes) and creates service
	// account tokens. Required.
	Client kubernetes.Interface
	// NodeName is this node's name; without it node allocatable is unknown.
	NodeName string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; token refresh decisions use it.
	Now func() time.Time
	// ResyncPeriod is how often Run refreshes every pod's configMap,
	// secret, downwardAPI and projected volumes (reading watched objects
	// from memory) and renews tokens that are due. Defaults to
	// DefaultResyncPeriod.
	ResyncPeriod time.Duration
}

// Validate reports a configuration New cannot use.
func (c *Config) Validate() error {
	if c.Root == "" {
		return errors.New("volume: Root is required")
	}
	if c.Client == nil {
		return errors.New("volume: Client is required")
	}
	if c.ResyncPeriod < 0 {
		return errors.New("volume: ResyncPeriod must not be negative")
	}
	return nil
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ResyncPeriod == 0 {
		c.ResyncPeriod = DefaultResyncPeriod
	}
}

// MountError is the failure of one volume. Its message is the kubelet's
// FailedMount event message, e.g.
// `MountVolume.SetUp failed for volume "x" : configmap "y" not found`.
type MountError struct {
	Volume string
	Err    error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// MountErrors lists the failed volumes in an error returned by Setup, one
// per FailedMount event the pod manager reports.
func MountErrors(err error) []*MountError {
	var out []*MountError
	var walk func(error)
	walk = func(err error) {
		if me, ok := err.(*MountError); ok {
			out = append(out, me)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// ReadOnly reports whether containers must mount the volume read-only
// whatever their volumeMount says: configMap, secret, downwardAPI and
// projected volumes, as the kubelet mounts them.
func ReadOnly(src *corev1.VolumeSource) bool {
	return src.ConfigMap != nil || src.Secret != nil || src.DownwardAPI != nil || src.Projected != nil
}

// Manager sets up, refreshes and tears down pod volumes.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	tokens *tokenCache
	node   nodeCache

	mu      sync.Mutex
	pods    map[types.UID]*podState
	watches map[objectKey]*objectWatch
	runCtx  context.Context // set while Run runs
	dirty   map[types.UID]bool
	kick    chan struct{}
	wg      sync.WaitGroup // watch goroutines
}

// podState is what the manager knows of one set-up pod. mu serialises
// Setup, refresh and Teardown of the pod.
type podState struct {
	mu      sync.Mutex
	gone    bool
	pod     *corev1.Pod
	refs    []objectKey // guarded by Manager.mu
	lastErr string
}

// New returns a Manager for cfg.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("volume: root: %w", err)
	}
	cfg.Root = root
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		pods:    map[types.UID]*podState{},
		watches: map[objectKey]*objectWatch{},
		dirty:   map[types.UID]bool{},
		kick:    make(chan struct{}, 1),
	}
	m.tokens = newTokenCache(cfg.Client, cfg.Now, cfg.Logger)
	m.node = nodeCache{client: cfg.Client, name: cfg.NodeName, now: cfg.Now}
	return m, nil
}

func (m *Manager) podDir(uid types.UID) string { return filepath.Join(m.cfg.Root, string(uid)) }

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podDir(uid), "volumes", plugin, name)
}

// lockPod returns the pod's state, registered and locked.
func (m *Manager) lockPod(uid types.UID) *podState {
	for {
		m.mu.Lock()
		st := m.pods[uid]
		if st == nil {
			st = &podState{}
			m.pods[uid] = st
		}
		m.mu.Unlock()
		st.mu.Lock()
		if !st.gone {
			return st
		}
		st.mu.Unlock() // torn down meanwhile: start again with a new state
	}
}

// Setup makes every volume of pod ready and returns, for each volume name,
// the host path to bind-mount (for hostPath, the path itself). It is
// idempotent and cheap to call again: API-backed volumes are rewritten
// only when their contents changed, a newer pod object updates downwardAPI
// files. The pod stays registered (its volumes refreshed by Run) until
// Teardown, also when Setup fails.
//
// Volumes that fail do not stop the others; the error joins one
// *MountError per failed volume, and the map holds only the volumes that
// are ready. The pod manager must not start containers until Setup
// succeeds; it should retry (the kubelet retries on its next pod sync).
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	if pod == nil || pod.UID == "" {
		return nil, errors.New("volume setup: pod has no UID")
	}
	st := m.lockPod(pod.UID)
	defer st.mu.Unlock()
	st.pod = pod.DeepCopy()
	refs := references(pod)
	m.mu.Lock()
	st.refs = refs
	m.syncWatchesLocked()
	m.mu.Unlock()

	paths := make(map[string]string, len(pod.Spec.Volumes))
	var errs []error
	for i := range st.pod.Spec.Volumes {
		vol := &st.pod.Spec.Volumes[i]
		path, err := m.setupVolume(ctx, st.pod, vol)
		if err != nil {
			errs = append(errs, &MountError{Volume: vol.Name, Err: err})
			continue
		}
		paths[vol.Name] = path
	}
	err := errors.Join(errs...)
	if err != nil {
		st.lastErr = err.Error()
	} else {
		st.lastErr = ""
	}
	return paths, err
}

// setupVolume sets up one volume and returns its host path.
func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume) (string, error) {
	src := &vol.VolumeSource
	fsGroup := podFSGroup(pod)
	switch {
	case src.HostPath != nil:
		return src.HostPath.Path, checkHostPath(src.HostPath)
	case src.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, pluginEmptyDir, vol.Name)
		return dir, m.setupEmptyDir(ctx, dir, pod, src.EmptyDir.Medium, src.EmptyDir.SizeLimit, fsGroup)
	case src.ConfigMap != nil, src.Secret != nil, src.DownwardAPI != nil, src.Projected != nil:
		return m.setupAtomic(ctx, pod, vol)
	default:
		return "", fmt.Errorf("volume type %s is not supported by berth: no volume plugin matched", volumeKind(src))
	}
}

// setupAtomic sets up a configMap, secret, downwardAPI or projected
// volume: its directory (on disk, or a tmpfs for secret and projected as
// the kubelet does), its data through the atomic writer, group ownership.
func (m *Manager) setupAtomic(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume) (string, error) {
	src := &vol.VolumeSource
	fsGroup := podFSGroup(pod)
	var (
		plugin  string
		medium  corev1.StorageMedium
		payload map[string]file
		err     error
	)
	// Collect first: a missing object leaves an existing volume untouched,
	// and creates no directory for a new one.
	switch {
	case src.ConfigMap != nil:
		plugin = pluginConfigMap
		payload, err = m.configMapVolumePayload(ctx, pod.Namespace, src.ConfigMap)
	case src.Secret != nil:
		plugin, medium = pluginSecret, corev1.StorageMediumMemory
		payload, err = m.secretVolumePayload(ctx, pod.Namespace, src.Secret)
	case src.DownwardAPI != nil:
		plugin = pluginDownwardAPI
		payload, err = m.downwardAPIPayload(ctx, pod, src.DownwardAPI.Items, modeOrDefault(src.DownwardAPI.DefaultMode))
	case src.Projected != nil:
		plugin, medium = pluginProjected, corev1.StorageMediumMemory
		payload, err = m.projectedPayload(ctx, pod, src.Projected)
	}
	if err != nil {
		return "", err
	}
	dir := m.volumeDir(pod.UID, plugin, vol.Name)
	if err := m.setupEmptyDir(ctx, dir, pod, medium, nil, fsGroup); err != nil {
		return "", err
	}
	if err := makeNestedMountpoints(vol.Name, dir, pod); err != nil {
		return "", err
	}
	var perms func() error
	if fsGroup != nil {
		perms = func() error { return setOwnership(m.log, dir, *fsGroup, true) }
	}
	if _, err := writeAtomic(dir, payload, m.cfg.Now(), perms); err != nil {
		return "", fmt.Errorf("write volume data: %w", err)
	}
	return dir, nil
}

// refresh rewrites the API-backed volumes of one pod from the newest
// data, as the kubelet's periodic remount does.
func (m *Manager) refresh(ctx context.Context, uid types.UID) {
	m.mu.Lock()
	st := m.pods[uid]
	m.mu.Unlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || st.pod == nil {
		return
	}
	var errs []error
	for i := range st.pod.Spec.Volumes {
		vol := &st.pod.Spec.Volumes[i]
		src := &vol.VolumeSource
		if src.ConfigMap == nil && src.Secret == nil && src.DownwardAPI == nil && src.Projected == nil {
			continue
		}
		if _, err := m.setupAtomic(ctx, st.pod, vol); err != nil {
			errs = append(errs, &MountError{Volume: vol.Name, Err: err})
		}
	}
	msg := ""
	if err := errors.Join(errs...); err != nil {
		msg = err.Error()
	}
	if msg != st.lastErr && msg != "" {
		m.log.Warn("volume refresh failed", "pod", st.pod.Namespace+"/"+st.pod.Name, "uid", uid, "err", msg)
	}
	st.lastErr = msg
}

// Teardown unmounts and removes every volume of the pod (hostPath volumes
// are left alone) and forgets the pod. It removes <Root>/<uid>/volumes,
// then <Root>/<uid> if that is empty. Call it once the pod's containers are
// gone. Removing nothing is not an error.
func (m *Manager) Teardown(ctx context.Context, podUID types.UID) error {
	if podUID == "" {
		return errors.New("volume teardown: empty pod UID")
	}
	st := m.lockPod(podUID)
	st.gone = true
	m.mu.Lock()
	delete(m.pods, podUID)
	delete(m.dirty, podUID)
	m.syncWatchesLocked()
	m.mu.Unlock()
	defer st.mu.Unlock()
	m.tokens.forget(podUID)

	podDir := m.podDir(podUID)
	if err := unmountUnder(podDir); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", podUID, err)
	}
	if err := os.RemoveAll(filepath.Join(podDir, "volumes")); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", podUID, err)
	}
	if err := os.Remove(podDir); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
		return fmt.Errorf("tear down volumes of pod %s: %w", podUID, err)
	}
	return nil
}

// OnDisk lists the pods that have a directory under Root, so that after an
// agent restart the pod manager can tear down those it no longer runs (as
// the kubelet's orphaned pod cleanup does).
func (m *Manager) OnDisk() ([]types.UID, error) {
	entries, err := os.ReadDir(m.cfg.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod volume dirs: %w", err)
	}
	var uids []types.UID
	for _, e := range entries {
		if e.IsDir() {
			uids = append(uids, types.UID(e.Name()))
		}
	}
	return uids, nil
}

// Run keeps the volumes of set-up pods current until ctx ends: one watch
// per referenced ConfigMap and Secret rewrites the volumes using it when
// it changes, and every ResyncPeriod all API-backed volumes are refreshed
// (tokens renewed when due). It stops its watches before returning.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.runCtx != nil {
		m.mu.Unlock()
		return errors.New("volume manager: Run called twice")
	}
	m.runCtx = ctx
	m.syncWatchesLocked()
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.runCtx = nil
		for key, w := range m.watches {
			w.stop()
			delete(m.watches, key)
		}
		m.mu.Unlock()
		m.wg.Wait()
	}()

	ticker := time.NewTicker(m.cfg.ResyncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-ticker.C:
			m.mu.Lock()
			for uid := range m.pods {
				m.dirty[uid] = true
			}
			m.mu.Unlock()
		}
		for {
			uid, ok := m.nextDirty()
			if !ok || ctx.Err() != nil {
				break
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			m.refresh(rctx, uid)
			cancel()
		}
	}
}

func (m *Manager) nextDirty() (types.UID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for uid := range m.dirty {
		delete(m.dirty, uid)
		return uid, true
	}
	return "", false
}

// markDirty queues the pods that reference key for a refresh.
func (m *Manager) markDirty(key objectKey) {
	m.mu.Lock()
	n := 0
	for uid, st := range m.pods {
		for _, r := range st.refs {
			if r == key {
				m.dirty[uid] = true
				n++
				break
			}
		}
	}
	m.mu.Unlock()
	if n > 0 {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}
