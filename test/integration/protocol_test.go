package integration

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"
)

// TestResourceVersionSemantics covers list and watch options around
// resourceVersion that client-go's reflector depends on.
func TestResourceVersionSemantics(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)

	t.Run("TooLargeResourceVersion", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		future := fmt.Sprint(rvInt(t, l.ResourceVersion) + 1000)
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: future})
		st := expectError(t, err, 504, metav1.StatusReasonTimeout, "")
		// The reflector recognises this answer by its cause
		// (storage.IsTooLargeResourceVersion) and lists again from scratch.
		expectCause(t, st, metav1.CauseTypeResourceVersionTooLarge, "", "Too large resource version")
		if want := "Timeout: Too large resource version: " + future + ", current: "; len(st.Message) < len(want) || st.Message[:len(want)] != want {
			t.Errorf("message %q, want prefix %q", st.Message, want)
		}
	})

	t.Run("ResourceVersionMatchValidation", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid,
			`ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided`)
		expectCause(t, st, metav1.CauseTypeForbidden, "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: "1", ResourceVersionMatch: "Sometimes"})
		expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		// A non-numeric resourceVersion.
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: "abc"})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "")
	})

	t.Run("NotOlderThan", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		cm, err := cms.Create(ctx, configMap("not-older", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		if rvInt(t, l.ResourceVersion) < rvInt(t, cm.ResourceVersion) {
			t.Errorf("list rv %s older than %s", l.ResourceVersion, cm.ResourceVersion)
		}
		found := false
		for _, it := range l.Items {
			found = found || it.Name == "not-older"
		}
		if !found {
			t.Error("list not older than the create does not show it")
		}
		// resourceVersion "0" is served from the cache and may be stale,
		// but is never older than what the cache has seen; it must answer.
		if _, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: "0"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("UpdateWithWrongUID", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		cm, err := cms.Create(ctx, configMap("uid", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bad := cm.DeepCopy()
		bad.UID = "11111111-1111-1111-1111-111111111111"
		_, err = cms.Update(ctx, bad, metav1.UpdateOptions{})
		expectError(t, err, 409, metav1.StatusReasonConflict,
			`Operation cannot be fulfilled on configmaps "uid": Precondition failed: UID in precondition: 11111111-1111-1111-1111-111111111111, UID in object meta: `+string(cm.UID))
	})

	t.Run("WatchTimeoutSeconds", func(t *testing.T) {
		t.Parallel()
		w, err := cms.Watch(ctxFor(t), metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case _, ok := <-w.ResultChan():
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("watch with timeoutSeconds=1 still open after 10s")
			}
		}
	})

	t.Run("WatchAllNamespaces", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		other := newNamespace(t, s)
		l, err := s.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.Client.CoreV1().ConfigMaps("").Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, FieldSelector: "metadata.namespace=" + other})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, configMap("elsewhere", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Client.CoreV1().ConfigMaps(other).Create(ctx, configMap("here", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := expectWatchEvent(t, w, watch.Added, "here")
		if ev.Namespace != other {
			t.Errorf("event for namespace %s", ev.Namespace)
		}
	})

	t.Run("MetadataClient", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		// The metadata client (garbage collector, namespace controller)
		// asks for PartialObjectMetadata(List).
		if _, err := cms.Create(ctx, configMap("meta", map[string]string{"m": "1"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mc, err := metadata.NewForConfig(s.Rest)
		if err != nil {
			t.Fatal(err)
		}
		res := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns)
		l, err := res.List(ctx, metav1.ListOptions{LabelSelector: "m=1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 || l.Items[0].Name != "meta" || l.Items[0].UID == "" || l.Items[0].Labels["m"] != "1" {
			t.Errorf("metadata list %+v", l.Items)
		}
		m, err := res.Get(ctx, "meta", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "meta" || m.UID == "" {
			t.Errorf("metadata get %+v", m.ObjectMeta)
		}
		w, err := res.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := cms.Delete(ctx, "meta", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, w)
		if p, ok := ev.Object.(*metav1.PartialObjectMetadata); ev.Type != watch.Deleted || !ok || p.Name != "meta" {
			t.Errorf("metadata watch: %s %T", ev.Type, ev.Object)
		}
		// Deleting through the metadata client (a JSON DeleteOptions).
		if _, err := cms.Create(ctx, configMap("meta2", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := res.Delete(ctx, "meta2", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
			t.Fatal(err)
		}
		got, err := cms.Get(ctx, "meta2", metav1.GetOptions{})
		if err != nil || len(got.Finalizers) != 1 || got.Finalizers[0] != metav1.FinalizerDeleteDependents {
			t.Errorf("foreground delete through the metadata client: %v %v", err, got.Finalizers)
		}
	})
}
