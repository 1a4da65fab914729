package volume

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tokenIssuer answers TokenRequests on a fake clientset as the API server
// would: token "token-N", expiring ExpirationSeconds (default 3600) after
// the clock's now. It records the requests.
type tokenIssuer struct {
	clock *fakeClock
	mu    sync.Mutex
	reqs  []*authenticationv1.TokenRequest
	sa    []string
	fail  error
}

func (ti *tokenIssuer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	ca, ok := action.(k8stesting.CreateAction)
	if !ok || action.GetSubresource() != "token" {
		return false, nil, nil
	}
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.fail != nil {
		return true, nil, ti.fail
	}
	tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
	ti.reqs = append(ti.reqs, tr.DeepCopy())
	ti.sa = append(ti.sa, ca.(k8stesting.CreateActionImpl).Name)
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = ptr(int64(3600))
	}
	tr.Status.Token = fmt.Sprintf("token-%d", len(ti.reqs))
	tr.Status.ExpirationTimestamp = metav1.NewTime(ti.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
	return true, tr, nil
}

func (ti *tokenIssuer) count() int {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return len(ti.reqs)
}

func (ti *tokenIssuer) setFail(err error) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.fail = err
}

type testEnv struct {
	mu      sync.Mutex
	watches int

	m      *Manager
	client *fake.Clientset
	root   string
	clock  *fakeClock
	tokens *tokenIssuer
}

// newTestEnv returns a Manager over a fake clientset holding objs, a node
// "node1" with 4 CPUs and 8Gi allocatable, a fake clock and a token
// issuer. Anything still mounted under its root is unmounted at the end.
func newTestEnv(t *testing.T, objs ...runtime.Object) *testEnv {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() {
		if err := unmountUnder(root); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:              resourceMust("4"),
			corev1.ResourceMemory:           resourceMust("8Gi"),
			corev1.ResourceEphemeralStorage: resourceMust("100Gi"),
		}},
	}
	client := fake.NewSimpleClientset(append(objs, node)...)
	clock := newFakeClock()
	ti := &tokenIssuer{clock: clock}
	client.PrependReactor("create", "serviceaccounts", ti.react)
	env := &testEnv{client: client, root: root, clock: clock, tokens: ti}
	// The fake's watches do not replay from a resourceVersion: count
	// those established so that tests change objects only after.
	client.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace())
		if err == nil {
			env.mu.Lock()
			env.watches++
			env.mu.Unlock()
		}
		return true, w, err
	})
	m, err := New(Config{
		Root:     root,
		Client:   client,
		NodeName: "node1",
		Logger:   testLogger(),
		Now:      clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.m = m
	return env
}

// waitWatches waits until n watches have been established.
func (e *testEnv) waitWatches(t *testing.T, n int) {
	t.Helper()
	eventually(t, 5*time.Second, fmt.Sprintf("%d watches", n), func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.watches >= n
	})
}

func testLogger() *slog.Logger {
	out := io.Discard
	if os.Getenv("BERTH_TEST_LOG") != "" {
		out = os.Stderr
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts, chown)")
	}
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

func ptr[T any](v T) *T { return &v }

func testPod(uid string, vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: types.UID(uid),
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "hello \"there\""},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			Containers: []corev1.Container{{Name: "main", Image: "busybox",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resourceMust("250m"), corev1.ResourceMemory: resourceMust("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resourceMust("128Mi")},
				}}},
			Volumes: vols,
		},
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// listVisible lists the entries of a volume dir that do not start with "..".
func listVisible(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if len(e.Name()) < 2 || e.Name()[:2] != ".." {
			out = append(out, e.Name())
		}
	}
	return out
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runManager(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop")
		}
	})
}

func dataDir(t *testing.T, dir string) string {
	t.Helper()
	ts, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
