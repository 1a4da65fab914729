package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/server"
)

func names[T any](items []T, name func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

func cmNames(l *corev1.ConfigMapList) []string {
	return names(l.Items, func(c corev1.ConfigMap) string { return c.Name })
}

func podNames(l *corev1.PodList) []string {
	return names(l.Items, func(p corev1.Pod) string { return p.Name })
}

// TestListSelectors lists with label and field selectors.
func TestListSelectors(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	other := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"a", map[string]string{"app": "web", "env": "prod"}},
		{"b", map[string]string{"app": "web", "env": "dev"}},
		{"c", map[string]string{"app": "db"}},
		{"d", nil},
	} {
		if _, err := cms.Create(ctx, configMap(c.name, c.labels), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.CoreV1().ConfigMaps(other).Create(ctx, configMap("a", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	labelCases := []struct {
		selector string
		want     []string
	}{
		{"app=web", []string{"a", "b"}},
		{"app==web,env=prod", []string{"a"}},
		{"app!=web", []string{"c", "d"}},
		{"app in (web,db)", []string{"a", "b", "c"}},
		{"env notin (prod)", []string{"b", "c", "d"}},
		{"env", []string{"a", "b"}},
		{"!env", []string{"c", "d"}},
		{"app=none", []string{}},
	}
	for _, c := range labelCases {
		l, err := cms.List(ctx, metav1.ListOptions{LabelSelector: c.selector})
		if err != nil {
			t.Errorf("labelSelector %q: %v", c.selector, err)
			continue
		}
		if got := cmNames(l); !slices.Equal(got, c.want) {
			t.Errorf("labelSelector %q: got %v, want %v", c.selector, got, c.want)
		}
	}
	_, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app in web"})
	expectError(t, err, 400, metav1.StatusReasonBadRequest, "")

	fieldCases := []struct {
		selector string
		want     []string
	}{
		{"metadata.name=b", []string{"b"}},
		{"metadata.name!=b", []string{"a", "c", "d"}},
		{"metadata.namespace=" + ns, []string{"a", "b", "c", "d"}},
		{"metadata.namespace=" + other, []string{}},
	}
	for _, c := range fieldCases {
		l, err := cms.List(ctx, metav1.ListOptions{FieldSelector: c.selector})
		if err != nil {
			t.Errorf("fieldSelector %q: %v", c.selector, err)
			continue
		}
		if got := cmNames(l); !slices.Equal(got, c.want) {
			t.Errorf("fieldSelector %q: got %v, want %v", c.selector, got, c.want)
		}
	}
	// Across namespaces.
	all, err := s.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=a", LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	got := names(all.Items, func(c corev1.ConfigMap) string { return c.Namespace + "/" + c.Name })
	if want := []string{ns + "/a", other + "/a"}; !slices.Equal(got, want) {
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("cluster-wide list: got %v, want %v", got, want)
		}
	}
	all, err = s.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.namespace=" + other})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 1 || all.Items[0].Namespace != other {
		t.Errorf("cluster-wide list by metadata.namespace: %d items", len(all.Items))
	}

	// Unknown fields: configmaps have no field conversion of their own.
	_, err = cms.List(ctx, metav1.ListOptions{FieldSelector: "data.k=v"})
	expectError(t, err, 400, metav1.StatusReasonBadRequest, `"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"`)
	_, err = cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name"})
	expectError(t, err, 400, metav1.StatusReasonBadRequest, "")

	t.Run("Pods", func(t *testing.T) {
		pods := s.Client.CoreV1().Pods(ns)
		for _, p := range []*corev1.Pod{pod("p1", "node-1"), pod("p2", "node-2"), pod("p3", "")} {
			if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		p2, err := pods.Get(ctx, "p2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p2.Status.Phase = corev1.PodRunning
		if _, err := pods.UpdateStatus(ctx, p2, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			selector string
			want     []string
		}{
			{"spec.nodeName=node-1", []string{"p1"}},
			{"spec.nodeName=", []string{"p3"}},
			{"spec.nodeName!=", []string{"p1", "p2"}},
			{"status.phase=Running", []string{"p2"}},
			{"status.phase=Pending,spec.nodeName=node-1", []string{"p1"}},
			{"spec.restartPolicy=Always", []string{"p1", "p2", "p3"}},
			{"spec.schedulerName=default-scheduler", []string{"p1", "p2", "p3"}},
		} {
			l, err := pods.List(ctx, metav1.ListOptions{FieldSelector: c.selector})
			if err != nil {
				t.Errorf("fieldSelector %q: %v", c.selector, err)
				continue
			}
			if got := podNames(l); !slices.Equal(got, c.want) {
				t.Errorf("fieldSelector %q: got %v, want %v", c.selector, got, c.want)
			}
		}
		_, err = pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.foo=bar"})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "field label not supported: spec.foo")
	})

	t.Run("OtherResources", func(t *testing.T) {
		// Secrets select on type.
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls"}, Type: corev1.SecretTypeOpaque}
		if _, err := s.Client.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sl, err := s.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Opaque"})
		if err != nil || len(sl.Items) != 1 {
			t.Errorf("secrets by type: %v", err)
		}
		// Namespaces select on status.phase.
		nl, err := s.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + ns + ",status.phase=Active"})
		if err != nil || len(nl.Items) != 1 {
			t.Errorf("namespaces by status.phase: %v", err)
		}
		// Services select on spec.clusterIP and spec.type (Kubernetes 1.31+;
		// the kubelet watches services with spec.clusterIP!=None).
		headless := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}}
		normal := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "normal"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		for _, svc := range []*corev1.Service{headless, normal} {
			if _, err := s.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		svcs, err := s.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.clusterIP!=None"})
		if err != nil {
			t.Errorf("services by spec.clusterIP: %v", err)
		} else if got := names(svcs.Items, func(s corev1.Service) string { return s.Name }); !slices.Equal(got, []string{"normal"}) {
			t.Errorf("services with spec.clusterIP!=None: %v, want [normal]", got)
		}
		svcs, err = s.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.type=ClusterIP"})
		if err != nil {
			t.Errorf("services by spec.type: %v", err)
		} else if len(svcs.Items) != 2 {
			t.Errorf("services with spec.type=ClusterIP: %d, want 2", len(svcs.Items))
		}
		// Events select on involvedObject fields.
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p1", Namespace: ns}, Reason: "R", Message: "m", Type: "Normal", Source: corev1.EventSource{Component: "x"}}
		if _, err := s.Client.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		el, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,involvedObject.name=p1,reason=R,type=Normal,source=x"})
		if err != nil || len(el.Items) != 1 {
			t.Errorf("events by involvedObject: %v", err)
		}
	})
}

// TestListPagination pages through a list with limit and continue.
func TestListPagination(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	var want []string
	for i := range 8 {
		name := fmt.Sprintf("cm-%02d", i)
		want = append(want, name)
		if _, err := cms.Create(ctx, configMap(name, map[string]string{"i": fmt.Sprint(i % 2)}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	page1, err := cms.List(ctx, metav1.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmNames(page1); !slices.Equal(got, want[:3]) {
		t.Fatalf("page 1: %v, want %v", got, want[:3])
	}
	if page1.Continue == "" || page1.RemainingItemCount == nil || *page1.RemainingItemCount != 5 {
		t.Fatalf("page 1: continue %q remainingItemCount %v, want a token and 5", page1.Continue, page1.RemainingItemCount)
	}
	rv := page1.ResourceVersion

	// Changes after the first page do not show in later pages.
	if _, err := cms.Create(ctx, configMap("cm-99", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	changed, err := cms.Get(ctx, "cm-05", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldRV := changed.ResourceVersion
	changed.Data["k"] = "changed"
	if _, err := cms.Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "cm-07", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	page2, err := cms.List(ctx, metav1.ListOptions{Limit: 3, Continue: page1.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmNames(page2); !slices.Equal(got, want[3:6]) {
		t.Errorf("page 2: %v, want %v", got, want[3:6])
	}
	if page2.ResourceVersion != rv {
		t.Errorf("page 2 resourceVersion %s, want the first page's %s", page2.ResourceVersion, rv)
	}
	if page2.RemainingItemCount == nil || *page2.RemainingItemCount != 2 || page2.Continue == "" {
		t.Errorf("page 2: continue %q remainingItemCount %v, want a token and 2", page2.Continue, page2.RemainingItemCount)
	}
	for _, cm := range page2.Items {
		if cm.Name == "cm-05" && (cm.ResourceVersion != oldRV || cm.Data["k"] == "changed") {
			t.Errorf("page 2 shows cm-05 as changed after the first page (rv %s, want %s)", cm.ResourceVersion, oldRV)
		}
	}

	page3, err := cms.List(ctx, metav1.ListOptions{Limit: 3, Continue: page2.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmNames(page3); !slices.Equal(got, want[6:]) {
		t.Errorf("page 3: %v, want %v (cm-07 deleted and cm-99 created after page 1)", got, want[6:])
	}
	if page3.Continue != "" || page3.RemainingItemCount != nil {
		t.Errorf("last page: continue %q remainingItemCount %v, want neither", page3.Continue, page3.RemainingItemCount)
	}
	if page3.ResourceVersion != rv {
		t.Errorf("page 3 resourceVersion %s, want %s", page3.ResourceVersion, rv)
	}

	// A fresh list sees the changes.
	fresh, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmNames(fresh); !slices.Contains(got, "cm-99") || slices.Contains(got, "cm-07") {
		t.Errorf("fresh list %v", got)
	}

	t.Run("WithSelector", func(t *testing.T) {
		var got []string
		opts := metav1.ListOptions{Limit: 2, LabelSelector: "i=1"}
		pages := 0
		for {
			l, err := cms.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(l.Items) > 2 {
				t.Errorf("page of %d items with limit 2", len(l.Items))
			}
			got = append(got, cmNames(l)...)
			if l.Continue == "" {
				break
			}
			opts.Continue = l.Continue
		}
		if want := []string{"cm-01", "cm-03", "cm-05"}; !slices.Equal(got, want) {
			t.Errorf("paged selection %v, want %v", got, want)
		}
		if pages < 2 {
			t.Errorf("%d pages, want at least 2", pages)
		}
	})

	t.Run("BadContinue", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: "not-a-token"})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "")
		// resourceVersion and continue do not go together.
		_, err = cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: page1.Continue, ResourceVersion: rv})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "specifying resource version is not allowed when using continue")
	})

	t.Run("ExactResourceVersion", func(t *testing.T) {
		// The state at the first page's revision is still readable.
		l, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatal(err)
		}
		if got := cmNames(l); !slices.Equal(got, want) || l.ResourceVersion != rv {
			t.Errorf("exact list at %s: %v (rv %s), want %v", rv, got, l.ResourceVersion, want)
		}
	})
}

// TestListContinueAfterCompaction lets etcd compact past a continue token's
// revision: the next page is 410 Gone with a token to go on inconsistently.
func TestListContinueAfterCompaction(t *testing.T) {
	t.Parallel()
	const interval = 200 * time.Millisecond
	s := start(t, func(c *server.Config) { c.EtcdCompactionInterval = interval })
	ctx := ctxFor(t)
	ns := newNamespace(t, s)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	for i := range 5 {
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("cm-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page1, err := cms.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page1.Continue == "" {
		t.Fatal("no continue token")
	}
	// Keep writing until the first page's revision is compacted away: an
	// exact list at that revision then fails with 410.
	i := 0
	poll(t, "compaction past the first page", func(ctx context.Context) (bool, error) {
		i++
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("filler-%d", i), nil), metav1.CreateOptions{}); err != nil {
			return false, err
		}
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: page1.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		return err != nil, nil
	})
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: page1.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	expectError(t, err, 410, metav1.StatusReasonExpired, "The resourceVersion for the provided list is too old.")

	_, err = cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: page1.Continue})
	st := expectError(t, err, 410, metav1.StatusReasonExpired,
		"The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
	if st.ListMeta.Continue == "" {
		t.Fatal("410 for a compacted continue token carries no continue token (metadata.continue), though its message offers one")
	}
	// The offered token continues at the latest revision.
	rest, err := cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: st.ListMeta.Continue})
	if err != nil {
		t.Fatalf("continue with the token from the 410: %v", err)
	}
	got := cmNames(rest)
	if len(got) == 0 || got[0] != "cm-2" || !slices.Contains(got, "filler-1") {
		t.Errorf("inconsistent continuation %v, want cm-2 onwards including the fillers", got)
	}
}
