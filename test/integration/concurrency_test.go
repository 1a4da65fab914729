package integration

import (
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

const conflictMsg = "the object has been modified; please apply your changes to the latest version and try again"

// TestOptimisticConcurrency checks resourceVersion preconditions of updates.
func TestOptimisticConcurrency(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)

	t.Run("StaleResourceVersion", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		v1, err := cms.Create(ctx, configMap("stale", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v2 := v1.DeepCopy()
		v2.Data["k"] = "second"
		if _, err := cms.Update(ctx, v2, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		v1.Data["k"] = "lost"
		_, err = cms.Update(ctx, v1, metav1.UpdateOptions{})
		st := expectError(t, err, 409, metav1.StatusReasonConflict, `Operation cannot be fulfilled on configmaps "stale": `+conflictMsg)
		if st.Details == nil || st.Details.Name != "stale" || st.Details.Kind != "configmaps" || st.Details.Group != "" {
			t.Errorf("conflict details %+v, want name stale kind configmaps", st.Details)
		}
		got, err := cms.Get(ctx, "stale", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["k"] != "second" {
			t.Errorf("data %v after a refused update, want k=second", got.Data)
		}
		// A patch carrying a stale resourceVersion is refused too.
		_, err = cms.Patch(ctx, "stale", "application/merge-patch+json",
			[]byte(`{"metadata":{"resourceVersion":"`+v1.ResourceVersion+`"},"data":{"k":"lost"}}`), metav1.PatchOptions{})
		expectError(t, err, 409, metav1.StatusReasonConflict, `Operation cannot be fulfilled on configmaps "stale": `+conflictMsg)
	})

	t.Run("StaleResourceVersionGroupResource", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		deps := s.Client.AppsV1().Deployments(ns)
		d, err := deps.Create(ctx, deployment("stale", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d2 := d.DeepCopy()
		d2.Labels = map[string]string{"x": "y"}
		if _, err := deps.Update(ctx, d2, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = deps.Update(ctx, d, metav1.UpdateOptions{})
		st := expectError(t, err, 409, metav1.StatusReasonConflict, `Operation cannot be fulfilled on deployments.apps "stale": `+conflictMsg)
		if st.Details == nil || st.Details.Group != "apps" || st.Details.Kind != "deployments" {
			t.Errorf("conflict details %+v, want group apps kind deployments", st.Details)
		}
	})

	t.Run("UnconditionalUpdate", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		cm, err := cms.Create(ctx, configMap("unconditional", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			u := configMap("unconditional", nil)
			u.Data["k"] = strconv.Itoa(i)
			out, err := cms.Update(ctx, u, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("update without resourceVersion: %v", err)
			}
			if out.Data["k"] != strconv.Itoa(i) || out.UID != cm.UID || rvInt(t, out.ResourceVersion) <= rvInt(t, cm.ResourceVersion) {
				t.Errorf("update %d: data %v uid %s rv %s", i, out.Data, out.UID, out.ResourceVersion)
			}
			cm = out
		}
	})

	t.Run("ConcurrentUpdatesWithRetry", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		cms := s.Client.CoreV1().ConfigMaps(ns)
		if _, err := cms.Create(ctx, configMap("counter", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		const workers, each = 20, 5
		// Twenty writers of one object conflict often: retry until done.
		backoff := wait.Backoff{Steps: 500, Duration: 2 * time.Millisecond, Factor: 1, Jitter: 2}
		var wg sync.WaitGroup
		var mu sync.Mutex
		conflicts := 0
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					err := retry.RetryOnConflict(backoff, func() error {
						cm, err := cms.Get(ctx, "counter", metav1.GetOptions{})
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(cm.Data["n"])
						if cm.Data == nil {
							cm.Data = map[string]string{}
						}
						cm.Data["n"] = strconv.Itoa(n + 1)
						_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
						if err != nil {
							mu.Lock()
							conflicts++
							mu.Unlock()
						}
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("worker: %v", err)
		}
		cm, err := cms.Get(ctx, "counter", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data["n"] != strconv.Itoa(workers*each) {
			t.Errorf("counter %s, want %d (every update lands exactly once)", cm.Data["n"], workers*each)
		}
		t.Logf("%d conflicts retried", conflicts)
	})
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Name = name
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template.Labels = map[string]string{"app": name}
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, containerNamed("c"))
	return d
}
