package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"berth/server"
)

func containerNamed(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox"}
}

// scaleClient is the scale subresource of one workload resource.
type scaleClient struct {
	resource string
	create   func(ctx context.Context, name string) (generation int64, err error)
	get      func(ctx context.Context, name string) (replicas int32, generation int64, err error)
	getScale func(ctx context.Context, name string) (*autoscalingv1.Scale, error)
	update   func(ctx context.Context, name string, sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
}

// TestScaleSubresource reads and writes autoscaling/v1 Scale of
// deployments, replicasets and statefulsets.
func TestScaleSubresource(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	apps := s.Client.AppsV1()
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{containerNamed("c")}},
	}
	clients := []scaleClient{
		{
			resource: "deployments",
			create: func(ctx context.Context, name string) (int64, error) {
				d, err := apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
				if err != nil {
					return 0, err
				}
				return d.Generation, nil
			},
			get: func(ctx context.Context, name string) (int32, int64, error) {
				d, err := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return *d.Spec.Replicas, d.Generation, nil
			},
			getScale: func(ctx context.Context, name string) (*autoscalingv1.Scale, error) {
				return apps.Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
			},
			update: func(ctx context.Context, name string, sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
				return apps.Deployments(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
			},
		},
		{
			resource: "replicasets",
			create: func(ctx context.Context, name string) (int64, error) {
				d, err := apps.ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
				if err != nil {
					return 0, err
				}
				return d.Generation, nil
			},
			get: func(ctx context.Context, name string) (int32, int64, error) {
				d, err := apps.ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return *d.Spec.Replicas, d.Generation, nil
			},
			getScale: func(ctx context.Context, name string) (*autoscalingv1.Scale, error) {
				return apps.ReplicaSets(ns).GetScale(ctx, name, metav1.GetOptions{})
			},
			update: func(ctx context.Context, name string, sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
				return apps.ReplicaSets(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
			},
		},
		{
			resource: "statefulsets",
			create: func(ctx context.Context, name string) (int64, error) {
				d, err := apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.StatefulSetSpec{ServiceName: "web", Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
				if err != nil {
					return 0, err
				}
				return d.Generation, nil
			},
			get: func(ctx context.Context, name string) (int32, int64, error) {
				d, err := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return *d.Spec.Replicas, d.Generation, nil
			},
			getScale: func(ctx context.Context, name string) (*autoscalingv1.Scale, error) {
				return apps.StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
			},
			update: func(ctx context.Context, name string, sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
				return apps.StatefulSets(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
			},
		},
	}
	for _, c := range clients {
		t.Run(c.resource, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			name := "scale-" + c.resource
			gen, err := c.create(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := c.getScale(ctx, name)
			if err != nil {
				t.Fatalf("get scale: %v", err)
			}
			if sc.Spec.Replicas != 2 || sc.Status.Replicas != 0 || sc.Status.Selector != "app=web" || sc.Name != name || sc.Namespace != ns || sc.UID == "" {
				t.Errorf("scale %+v: want spec.replicas 2, status.replicas 0, selector app=web", sc)
			}
			sc.Spec.Replicas = 5
			out, err := c.update(ctx, name, sc)
			if err != nil {
				t.Fatalf("update scale: %v", err)
			}
			if out.Spec.Replicas != 5 || rvInt(t, out.ResourceVersion) <= rvInt(t, sc.ResourceVersion) {
				t.Errorf("update scale answered %+v", out)
			}
			replicas, gen2, err := c.get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if replicas != 5 || gen2 != gen+1 {
				t.Errorf("after scaling: replicas %d generation %d, want 5 and %d", replicas, gen2, gen+1)
			}
			// A stale scale is a conflict.
			_, err = c.update(ctx, name, sc)
			expectError(t, err, 409, metav1.StatusReasonConflict, "Operation cannot be fulfilled on "+c.resource+".apps \""+name+"\": "+conflictMsg)
			// Negative replicas are invalid.
			out.Spec.Replicas = -1
			_, err = c.update(ctx, name, out)
			st := expectError(t, err, 422, metav1.StatusReasonInvalid, `Scale.autoscaling "`+name+`" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`)
			expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.replicas", "must be greater than or equal to 0")
			// A merge patch of the scale.
			patched, err := s.Dynamic.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: c.resource}).Namespace(ns).
				Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"replicas":7}}`), metav1.PatchOptions{}, "scale")
			if err != nil {
				t.Fatalf("patch scale: %v", err)
			}
			if patched.GetKind() != "Scale" || patched.GetAPIVersion() != "autoscaling/v1" {
				t.Errorf("patch of scale answered a %s %s, want autoscaling/v1 Scale", patched.GetAPIVersion(), patched.GetKind())
			}
			if replicas, _, _ := c.get(ctx, name); replicas != 7 {
				t.Errorf("replicas %d after patching scale, want 7", replicas)
			}
			// Scale of a missing object.
			_, err = c.getScale(ctx, "missing")
			expectError(t, err, 404, metav1.StatusReasonNotFound, c.resource+`.apps "missing" not found`)
		})
	}
	t.Run("NoScaleForDaemonSets", func(t *testing.T) {
		t.Parallel()
		_, err := s.Dynamic.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}).Namespace(ns).Get(ctxFor(t), "x", metav1.GetOptions{}, "scale")
		expectError(t, err, 404, metav1.StatusReasonNotFound, "")
	})
}

// TestDefaults checks defaults Kubernetes applies, with typed clients.
func TestDefaults(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)

	d, err := s.Client.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxSurge != intstr.FromString("25%") || *ru.MaxUnavailable != intstr.FromString("25%") {
		t.Errorf("deployment strategy %+v, want RollingUpdate 25%%/25%%", d.Spec.Strategy)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways || c.TerminationMessagePath != corev1.TerminationMessagePathDefault {
		t.Errorf("container defaults %+v", c)
	}
	if d.Generation != 1 || d.Status.ObservedGeneration != 0 {
		t.Errorf("generation %d observed %d, want 1 and 0", d.Generation, d.Status.ObservedGeneration)
	}

	// A status sent on create is dropped.
	d2 := deployment("with-status", 1)
	d2.Status.Replicas = 9
	d2, err = s.Client.AppsV1().Deployments(ns).Create(ctx, d2, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Status.Replicas != 0 {
		t.Errorf("status.replicas %d after create, want 0 (status is reset)", d2.Status.Replicas)
	}

	svc, err := s.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("service type %q, want ClusterIP", svc.Spec.Type)
	}
	expectClusterIP(t, svc.Spec.ClusterIP)
	if !slices.Equal(svc.Spec.ClusterIPs, []string{svc.Spec.ClusterIP}) {
		t.Errorf("clusterIPs %v, want [%s]", svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
	}
	if svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP || svc.Spec.Ports[0].NodePort != 0 {
		t.Errorf("port %+v", svc.Spec.Ports[0])
	}

	// generateName makes a unique name from the prefix.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}
	names := map[string]bool{}
	for range 5 {
		out, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.Name, "gen-") || len(out.Name) != len("gen-")+5 || names[out.Name] {
			t.Errorf("generated name %q", out.Name)
		}
		names[out.Name] = true
	}
}

// TestEventsBothAPIs writes events through events.k8s.io/v1 and reads them
// through core/v1, and back.
func TestEventsBothAPIs(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "ev1"},
		EventTime:           now,
		ReportingController: "example.com/ctrl",
		ReportingInstance:   "ctrl-1",
		Action:              "Scheduling",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p", APIVersion: "v1"},
		Note:                "pod scheduled",
		Type:                corev1.EventTypeNormal,
	}
	created, err := s.Client.EventsV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	core, err := s.Client.CoreV1().Events(ns).Get(ctx, "ev1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the events.k8s.io event through core/v1: %v", err)
	}
	if core.Message != "pod scheduled" || core.InvolvedObject.Name != "p" || core.ReportingController != "example.com/ctrl" ||
		core.Action != "Scheduling" || core.Reason != "Scheduled" || core.UID != created.UID || core.ResourceVersion != created.ResourceVersion {
		t.Errorf("core/v1 view %+v does not match %+v", core, created)
	}
	list, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "ev1" {
		t.Errorf("core/v1 list by involvedObject.name has %d items", len(list.Items))
	}

	w, err := s.Client.EventsV1().Events(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	legacy := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "ev2"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "q"},
		Reason:         "Pulled", Message: "image pulled", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "kubelet", Host: "node-1"},
		Count:  3,
	}
	if _, err := s.Client.CoreV1().Events(ns).Create(ctx, legacy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The events.k8s.io watch sees the core/v1 write as an events.k8s.io
	// event.
	wev := nextEvent(t, w)
	if got, ok := wev.Object.(*eventsv1.Event); wev.Type != watch.Added || !ok || got.Name != "ev2" || got.Note != "image pulled" {
		t.Errorf("events.k8s.io watch: %s %s", wev.Type, describe(wev.Object))
	}
	nev, err := s.Client.EventsV1().Events(ns).Get(ctx, "ev2", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the core/v1 event through events.k8s.io: %v", err)
	}
	if nev.Note != "image pulled" || nev.Regarding.Name != "q" || nev.DeprecatedSource.Component != "kubelet" || nev.DeprecatedCount != 3 {
		t.Errorf("events.k8s.io view %+v", nev)
	}
	nlist, err := s.Client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nlist.Items) != 2 {
		t.Errorf("events.k8s.io list has %d items, want 2", len(nlist.Items))
	}
	// Deleting through one API deletes from the other.
	if err := s.Client.EventsV1().Events(ns).Delete(ctx, "ev2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.CoreV1().Events(ns).Get(ctx, "ev2", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, `events "ev2" not found`)
	_, err = s.Client.EventsV1().Events(ns).Get(ctx, "ev2", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, `events.events.k8s.io "ev2" not found`)
}

// TestDiscoveryServesEveryResource compares discovery with the resources
// TestCRUD covers, so that a new resource is not left untested.
func TestDiscoveryServesEveryResource(t *testing.T) {
	t.Parallel()
	s := start(t)
	_, lists, err := s.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	served := map[schema.GroupVersionResource]metav1.APIResource{}
	subresources := map[string]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if i := strings.IndexByte(r.Name, '/'); i >= 0 {
				subresources[gv.WithResource(r.Name).String()] = true
				continue
			}
			served[gv.WithResource(r.Name)] = r
		}
	}
	covered := map[schema.GroupVersionResource]bool{}
	for _, tc := range resourceCases() {
		covered[tc.gvr] = true
		r, ok := served[tc.gvr]
		if !ok {
			t.Errorf("%s is not served", tc.gvr)
			continue
		}
		if r.Namespaced != tc.namespaced || r.Kind != tc.kind {
			t.Errorf("%s: discovery says namespaced=%v kind=%s, want %v %s", tc.gvr, r.Namespaced, r.Kind, tc.namespaced, tc.kind)
		}
		want := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
		verbs := slices.Clone([]string(r.Verbs))
		slices.Sort(verbs)
		if tc.gvr.Resource == "namespaces" {
			want = slices.DeleteFunc(want, func(v string) bool { return v == "deletecollection" })
		}
		if !slices.Equal(verbs, want) {
			t.Errorf("%s verbs %v, want %v", tc.gvr, verbs, want)
		}
		if tc.status != nil && !subresources[tc.gvr.GroupVersion().WithResource(tc.gvr.Resource+"/status").String()] {
			t.Errorf("%s/status is not in discovery", tc.gvr)
		}
		if tc.scale && !subresources[tc.gvr.GroupVersion().WithResource(tc.gvr.Resource+"/scale").String()] {
			t.Errorf("%s/scale is not in discovery", tc.gvr)
		}
	}
	for gvr := range served {
		if !covered[gvr] {
			t.Errorf("%s is served but not covered by TestCRUD", gvr)
		}
	}
}

// TestEventTTL checks that events expire after the configured TTL, with a
// DELETED watch event, and that other objects do not. Kubernetes' lease
// manager reuses a lease for at most min(5% of the TTL, 60s), so an event
// with a 2s TTL is gone within a few seconds.
func TestEventTTL(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *server.Config) { c.EventTTL = 2 * time.Second })
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	evs := s.Client.CoreV1().Events(ns)
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "short"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p"},
		Reason:         "R", Message: "m", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "x"},
	}
	created, err := evs.Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, configMap("stays", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := evs.Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	got := nextEventWithin(t, w, 10*time.Second)
	if e, ok := got.Object.(*corev1.Event); got.Type != watch.Deleted || !ok || e.Name != "short" {
		t.Fatalf("got %s %s, want DELETED event short", got.Type, describe(got.Object))
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("event expired after %v, before its 2s TTL", d)
	}
	_, err = evs.Get(ctx, "short", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, `events "short" not found`)
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Get(ctx, "stays", metav1.GetOptions{}); err != nil {
		t.Errorf("configmap expired with the event: %v", err)
	}
}
