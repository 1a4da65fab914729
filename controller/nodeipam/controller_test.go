package nodeipam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"berth/controller"
)

type fixture struct {
	t        *testing.T
	c        *Controller
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newFixture(t *testing.T, cfg Config, nodes ...*corev1.Node) *fixture {
	t.Helper()
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, n)
	}
	f := &fixture{t: t, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100), logs: &syncBuffer{}}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := newController(&controller.Shared{
		Client: f.client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return f.recorder },
		Logger:   slog.New(slog.NewTextHandler(f.logs, nil)),
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, n := range nodes {
		f.store(n)
	}
	if err := c.rebuild(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) store(n *corev1.Node) {
	f.t.Helper()
	if err := f.factory.Core().V1().Nodes().Informer().GetStore().Update(n); err != nil {
		f.t.Fatal(err)
	}
}

// sync syncs a node and copies the result into the informer's store.
func (f *fixture) sync(name string) error {
	f.t.Helper()
	err := f.c.sync(context.Background(), name)
	if n, getErr := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); getErr == nil {
		f.store(n)
	}
	return err
}

func (f *fixture) podCIDR(name string) string {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		f.t.Fatalf("node %s: podCIDR %q podCIDRs %v disagree", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
	}
	return n.Spec.PodCIDR
}

func (f *fixture) deleteNode(name string) {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.factory.Core().V1().Nodes().Informer().GetStore().Delete(n); err != nil {
		f.t.Fatal(err)
	}
}

func node(name string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidrs[0], cidrs
	}
	return n
}

func events(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A node without a pod CIDR gets the next free range, patched into
// podCIDR and podCIDRs; preset ranges are taken, ranges outside the
// cluster CIDR are kept and take nothing.
func TestAssignsNextFreeRange(t *testing.T) {
	f := newFixture(t, Config{},
		node("preset", "10.42.0.0/24"),
		node("outside", "192.168.5.0/24"),
		node("a"), node("b"))
	for _, n := range []string{"preset", "outside", "a", "b"} {
		if err := f.sync(n); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[string]string{"preset": "10.42.0.0/24", "outside": "192.168.5.0/24", "a": "10.42.1.0/24", "b": "10.42.2.0/24"} {
		if got := f.podCIDR(n); got != want {
			t.Errorf("node %s: pod CIDR %s, want %s", n, got, want)
		}
	}
	var patches int
	for _, a := range f.client.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok {
			patches++
			if p.GetPatchType() != "application/strategic-merge-patch+json" {
				t.Errorf("patch type %s", p.GetPatchType())
			}
			if want := `{"spec":{"podCIDR":"10.42.`; !strings.HasPrefix(string(p.GetPatch()), want) {
				t.Errorf("patch %s", p.GetPatch())
			}
		}
	}
	if patches != 2 {
		t.Errorf("%d patches, want 2 (the preset nodes keep theirs)", patches)
	}
	// Syncing again writes nothing.
	f.client.ClearActions()
	for _, n := range []string{"preset", "outside", "a", "b"} {
		if err := f.c.sync(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.client.Actions()); n != 0 {
		t.Errorf("%d requests on a second pass: %v", n, f.client.Actions())
	}
	if n := strings.Count(f.logs.String(), "outside the cluster CIDR"); n != 1 {
		t.Errorf("outside range logged %d times, want once:\n%s", n, f.logs)
	}
}

// After a restart the ranges of all nodes are taken before any is given,
// whatever order the nodes are synced in.
func TestRestartRebuildsUsedSet(t *testing.T) {
	f := newFixture(t, Config{},
		node("new"),
		node("old-1", "10.42.0.0/24"), node("old-2", "10.42.1.0/24"),
		node("big", "10.42.2.0/23"), // a larger range takes both of its /24s
	)
	if err := f.sync("new"); err != nil {
		t.Fatal(err)
	}
	if got := f.podCIDR("new"); got != "10.42.4.0/24" {
		t.Errorf("new node got %s, want 10.42.4.0/24", got)
	}
}

// A full cluster CIDR records CIDRNotAvailable on the node; the node gets
// the range of a deleted node at once.
func TestFullRangeAndRelease(t *testing.T) {
	f := newFixture(t, Config{ClusterCIDR: "10.42.0.0/23", NodeCIDRMaskSize: 24},
		node("a", "10.42.0.0/24"), node("b", "10.42.1.0/24"), node("c"))
	err := f.sync("c")
	if !errors.Is(err, errFull) {
		t.Fatalf("sync of a node with no range left: %v", err)
	}
	if got, want := events(f.recorder), []string{"Normal CIDRNotAvailable Node c status is now: CIDRNotAvailable"}; !slicesEqual(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	f.deleteNode("b")
	if err := f.sync("b"); err != nil {
		t.Fatal(err)
	}
	if f.c.worker.Len() != 1 {
		t.Fatalf("the waiting node was not queued again on release (queue %d)", f.c.worker.Len())
	}
	if err := f.sync("c"); err != nil {
		t.Fatal(err)
	}
	if got := f.podCIDR("c"); got != "10.42.1.0/24" {
		t.Errorf("c got %s, want the released 10.42.1.0/24", got)
	}
}

// A patch the API server refuses frees the range; one that fails without
// an answer keeps it, and the retry patches the same range.
func TestPatchFailures(t *testing.T) {
	f := newFixture(t, Config{ClusterCIDR: "10.42.0.0/22", NodeCIDRMaskSize: 24}, node("a"))
	var fail error
	var patched []string
	f.client.PrependReactor("patch", "nodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		patched = append(patched, string(a.(clienttesting.PatchAction).GetPatch()))
		if fail != nil {
			return true, nil, fail
		}
		return false, nil, nil
	})
	fail = errors.New("connection reset")
	if err := f.sync("a"); err == nil {
		t.Fatal("no error")
	}
	if f.c.set.free() != 3 {
		t.Errorf("free = %d: a range whose patch may have applied was released", f.c.set.free())
	}
	fail = nil
	if err := f.sync("a"); err != nil {
		t.Fatal(err)
	}
	if len(patched) != 2 || patched[0] != patched[1] {
		t.Errorf("patches %q: want the same range twice", patched)
	}

	f.store(node("b"))
	fail = apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, "b", nil)
	if err := f.sync("b"); err == nil {
		t.Fatal("no error")
	}
	if f.c.set.free() != 3 {
		t.Errorf("free = %d: a refused range was kept", f.c.set.free())
	}
	if got := events(f.recorder); len(got) != 1 || !strings.Contains(got[0], "CIDRAssignmentFailed") {
		t.Errorf("events %q", got)
	}
}

// Many nodes synced at once never share a range.
func TestConcurrentAssignment(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 60 {
		var cidrs []string
		if i%10 == 0 {
			cidrs = []string{fmt.Sprintf("10.42.%d.0/24", i)}
		}
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), cidrs...))
	}
	f := newFixture(t, Config{}, nodes...)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.c.sync(context.Background(), n.Name); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]string{}
	for _, n := range nodes {
		cidr := f.podCIDR(n.Name)
		if other, ok := seen[cidr]; ok {
			t.Errorf("%s given to %s and %s", cidr, other, n.Name)
		}
		seen[cidr] = n.Name
	}
}

// A node marked for deletion gives its range back.
func TestDeletingNodeReleases(t *testing.T) {
	f := newFixture(t, Config{ClusterCIDR: "10.42.0.0/24", NodeCIDRMaskSize: 24}, node("a"))
	if err := f.sync("a"); err != nil {
		t.Fatal(err)
	}
	n, _ := f.client.CoreV1().Nodes().Get(context.Background(), "a", metav1.GetOptions{})
	n.DeletionTimestamp = &metav1.Time{}
	f.store(n)
	if err := f.c.sync(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if f.c.set.free() != 1 {
		t.Fatalf("a node marked for deletion keeps its range (free %d)", f.c.set.free())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{ClusterCIDR: "fd00:42::/48"}, true},
		{Config{ClusterCIDR: "10.42.0.0/16", NodeCIDRMaskSize: 30}, true},
		{Config{ClusterCIDR: "10.42.0.0/16", NodeCIDRMaskSize: 31}, false},
		{Config{ClusterCIDR: "10.42.0.0/16", NodeCIDRMaskSize: 8}, false},
		{Config{ClusterCIDR: "10.42.1.0/16"}, false},
		{Config{ClusterCIDR: "10.42.0.0"}, false},
		{Config{ClusterCIDR: "10.0.0.0/8", NodeCIDRMaskSize: 28}, false},
	} {
		cfg := tt.cfg
		cfg.Defaults()
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: %v, want ok=%v", tt.cfg, err, tt.ok)
		}
	}
	c := Config{ClusterCIDR: "fd00:42::/48"}
	c.Defaults()
	if c.NodeCIDRMaskSize != 64 {
		t.Errorf("IPv6 default mask %d, want 64", c.NodeCIDRMaskSize)
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
