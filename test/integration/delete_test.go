package integration

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// TestFinalizers checks that finalizers hold a deleted object until they
// are removed.
func TestFinalizers(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	cm := configMap("held", nil)
	cm.Finalizers = []string{"example.com/hold"}
	cm, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// DELETE answers 200 with the object, marked for deletion (Kubernetes
	// answers 202 only for orphanDependents=false).
	r := do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/held", "", nil)
	if r.code != 200 {
		t.Errorf("DELETE of an object held by a finalizer: HTTP %d, want 200 (body %s)", r.code, truncate(r.body))
	}
	var marked corev1.ConfigMap
	if err := json.Unmarshal(r.body, &marked); err != nil || marked.Kind != "ConfigMap" {
		t.Fatalf("DELETE answered %s, want the ConfigMap", truncate(r.body))
	}
	if marked.DeletionTimestamp == nil || marked.DeletionGracePeriodSeconds == nil || *marked.DeletionGracePeriodSeconds != 0 {
		t.Errorf("deletionTimestamp %v grace %v, want set and 0", marked.DeletionTimestamp, marked.DeletionGracePeriodSeconds)
	}
	got, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object held by a finalizer is gone: %v", err)
	}
	if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{"example.com/hold"}) {
		t.Errorf("held object: deletionTimestamp %v finalizers %v", got.DeletionTimestamp, got.Finalizers)
	}
	if ev := expectWatchEvent(t, w, watch.Modified, "held"); ev.DeletionTimestamp == nil {
		t.Error("MODIFIED event lacks deletionTimestamp")
	}

	// A second delete changes nothing.
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.DeletionTimestamp.Equal(got.DeletionTimestamp) {
		t.Errorf("second delete moved deletionTimestamp %v → %v", got.DeletionTimestamp, again.DeletionTimestamp)
	}
	// New finalizers may not be added once deleting.
	again.Finalizers = append(again.Finalizers, "example.com/late")
	_, err = cms.Update(ctx, again, metav1.UpdateOptions{})
	st := expectError(t, err, 422, metav1.StatusReasonInvalid, "")
	expectCause(t, st, metav1.CauseTypeForbidden, "metadata.finalizers", "no new finalizers can be added if the object is being deleted")

	// Other changes are allowed; deletionTimestamp cannot be undone.
	got.Data["k"] = "still here"
	got.DeletionTimestamp = nil
	if got, err = cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp == nil {
		t.Error("an update cleared deletionTimestamp")
	}

	// Removing the last finalizer deletes the object.
	if _, err := cms.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = cms.Get(ctx, "held", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, `configmaps "held" not found`)
	expectWatchEvent(t, w, watch.Modified, "held")
	expectWatchEvent(t, w, watch.Deleted, "held")

	t.Run("OrphanDependentsFalseIs202", func(t *testing.T) {
		c := configMap("held2", nil)
		c.Finalizers = []string{"example.com/hold"}
		if _, err := cms.Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/held2", "application/json",
			[]byte(`{"kind":"DeleteOptions","apiVersion":"v1","orphanDependents":false}`))
		if r.code != 202 {
			t.Errorf("DELETE with orphanDependents=false of a held object: HTTP %d, want 202", r.code)
		}
		// Immediate deletes answer a Status naming the object.
		other, err := cms.Create(ctx, configMap("plain", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r = do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/plain", "", nil)
		if r.code != 200 || r.status == nil || r.status.Status != metav1.StatusSuccess || r.status.Details == nil ||
			r.status.Details.Name != "plain" || r.status.Details.Kind != "configmaps" || r.status.Details.UID != other.UID {
			t.Errorf("immediate DELETE answered HTTP %d %s", r.code, truncate(r.body))
		}
		if _, err := cms.Patch(ctx, "held2", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPropagationPolicy checks the finalizers that record how dependents
// are deleted.
func TestPropagationPolicy(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	deps := s.Client.AppsV1().Deployments(ns)
	for _, c := range []struct {
		policy    metav1.DeletionPropagation
		finalizer string
	}{
		{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
		{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
	} {
		name := "prop-" + string(c.policy)
		name = "prop-" + map[metav1.DeletionPropagation]string{metav1.DeletePropagationOrphan: "orphan", metav1.DeletePropagationForeground: "foreground"}[c.policy]
		if _, err := deps.Create(ctx, deployment(name, 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := deps.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(c.policy)}); err != nil {
			t.Fatalf("delete %s: %v", c.policy, err)
		}
		d, err := deps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s delete removed the object at once: %v", c.policy, err)
		}
		if !slices.Equal(d.Finalizers, []string{c.finalizer}) || d.DeletionTimestamp == nil {
			t.Errorf("%s: finalizers %v deletionTimestamp %v, want [%s] and set", c.policy, d.Finalizers, d.DeletionTimestamp, c.finalizer)
		}
		// Marking an object for deletion bumps its generation
		// (markAsDeleting in Kubernetes' generic registry), so that its
		// controller sees a new generation to observe.
		if d.Generation != 2 {
			t.Errorf("%s: generation %d after the delete, want 2", c.policy, d.Generation)
		}
		// What the garbage collector does when done: drop the finalizer.
		if _, err := deps.Patch(ctx, name, types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = deps.Get(ctx, name, metav1.GetOptions{})
		expectError(t, err, 404, metav1.StatusReasonNotFound, `deployments.apps "`+name+`" not found`)
	}

	// Background deletes at once.
	if _, err := deps.Create(ctx, deployment("bg", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deps.Delete(ctx, "bg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	_, err := deps.Get(ctx, "bg", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, "")

	// batch/v1 jobs orphan their pods by default.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "job"}}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	job.Spec.Template.Spec.Containers = []corev1.Container{containerNamed("c")}
	if _, err := s.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.BatchV1().Jobs(ns).Delete(ctx, "job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	j, err := s.Client.BatchV1().Jobs(ns).Get(ctx, "job", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job deleted at once: %v", err)
	}
	if !slices.Equal(j.Finalizers, []string{metav1.FinalizerOrphanDependents}) {
		t.Errorf("job finalizers %v, want [orphan]", j.Finalizers)
	}

	// Both orphanDependents and propagationPolicy is a bad request.
	_, err = deps.Create(ctx, deployment("both", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = deps.Delete(ctx, "both", metav1.DeleteOptions{OrphanDependents: ptr.To(true), PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	st := expectError(t, err, 422, metav1.StatusReasonInvalid, "")
	expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "propagationPolicy", "orphanDependents and deletionPropagation cannot be both set")
}

// TestDeletePreconditions checks uid and resourceVersion preconditions.
func TestDeletePreconditions(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, configMap("pre", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Kubernetes checks delete preconditions in rest.BeforeDelete, naming
	// the object by its kind.
	wrongUID := types.UID("00000000-0000-0000-0000-000000000000")
	err = cms.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrongUID}})
	expectError(t, err, 409, metav1.StatusReasonConflict,
		`Operation cannot be fulfilled on ConfigMap "pre": the UID in the precondition (`+string(wrongUID)+`) does not match the UID in record (`+string(cm.UID)+`). The object might have been deleted and then recreated`)
	err = cms.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("1")}})
	expectError(t, err, 409, metav1.StatusReasonConflict,
		`Operation cannot be fulfilled on ConfigMap "pre": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (`+cm.ResourceVersion+`). The object might have been modified`)
	if _, err := cms.Get(ctx, "pre", metav1.GetOptions{}); err != nil {
		t.Fatalf("failed preconditions deleted the object: %v", err)
	}
	err = cms.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}})
	if err != nil {
		t.Fatalf("delete with matching preconditions: %v", err)
	}
	_, err = cms.Get(ctx, "pre", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, "")
}

// TestPodGracefulDeletion checks the grace period of pod deletion.
func TestPodGracefulDeletion(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	pods := s.Client.CoreV1().Pods(ns)

	// A scheduled pod is kept for its grace period (the kubelet finishes
	// the deletion).
	p := pod("scheduled", "node-1")
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](45)
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	r := do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/pods/scheduled", "", nil)
	if r.code != 200 {
		t.Errorf("graceful DELETE of a pod: HTTP %d, want 200", r.code)
	}
	got, err := pods.Get(ctx, "scheduled", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("scheduled pod deleted at once: %v", err)
	}
	if got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 45 || got.DeletionTimestamp == nil {
		t.Fatalf("deletionGracePeriodSeconds %v deletionTimestamp %v, want 45 and set", got.DeletionGracePeriodSeconds, got.DeletionTimestamp)
	}
	if d := got.DeletionTimestamp.Sub(before); d < 43*time.Second || d > 47*time.Second {
		t.Errorf("deletionTimestamp %v is %v from now, want ~45s", got.DeletionTimestamp, d)
	}
	// A shorter grace period brings it forward.
	if err := pods.Delete(ctx, "scheduled", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](10)}); err != nil {
		t.Fatal(err)
	}
	if got, err = pods.Get(ctx, "scheduled", metav1.GetOptions{}); err != nil || *got.DeletionGracePeriodSeconds != 10 {
		t.Errorf("after a shorter grace period: %v %v", err, got.DeletionGracePeriodSeconds)
	}
	// gracePeriodSeconds=0 deletes it at once.
	if err := pods.Delete(ctx, "scheduled", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx, "scheduled", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, `pods "scheduled" not found`)

	// An unscheduled pod goes at once.
	if _, err := pods.Create(ctx, pod("pending", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/pods/pending", "", nil)
	var deleted corev1.Pod
	if r.code != 200 || json.Unmarshal(r.body, &deleted) != nil || deleted.Kind != "Pod" || deleted.Name != "pending" {
		t.Errorf("DELETE of an unscheduled pod: HTTP %d %s, want 200 and the pod", r.code, truncate(r.body))
	}
	_, err = pods.Get(ctx, "pending", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, "")

	// A scheduled pod deleted with gracePeriodSeconds=0 goes at once.
	if _, err := pods.Create(ctx, pod("now", "node-1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "now", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx, "now", metav1.GetOptions{})
	expectError(t, err, 404, metav1.StatusReasonNotFound, "")

	// Default grace period (30s) of a scheduled pod.
	if _, err := pods.Create(ctx, pod("default", "node-1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err = pods.Get(ctx, "default", metav1.GetOptions{}); err != nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Errorf("default grace: %v %v, want 30", err, got.DeletionGracePeriodSeconds)
	}
}

// TestDeleteCollection deletes what a label selector selects.
func TestDeleteCollection(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	ctx := ctxFor(t)
	cms := s.Client.CoreV1().ConfigMaps(ns)
	for _, c := range []struct{ name, app string }{{"a1", "a"}, {"a2", "a"}, {"b1", "b"}} {
		if _, err := cms.Create(ctx, configMap(c.name, map[string]string{"app": c.app}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	held := configMap("a3", map[string]string{"app": "a"})
	held.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces/"+ns+"/configmaps?labelSelector=app%3Da", "", nil)
	if r.code != 200 {
		t.Fatalf("deletecollection: HTTP %d %s", r.code, truncate(r.body))
	}
	var answered corev1.ConfigMapList
	if err := json.Unmarshal(r.body, &answered); err != nil || answered.Kind != "ConfigMapList" {
		t.Errorf("deletecollection answered %s, want a ConfigMapList", truncate(r.body))
	}
	l, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cmNames(l); !slices.Equal(got, []string{"a3", "b1"}) {
		t.Errorf("after deletecollection app=a: %v, want [a3 b1]", got)
	}
	if l.Items[0].DeletionTimestamp == nil {
		t.Error("deletecollection did not mark the held object")
	}
	// Through client-go, with a field selector.
	if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: "metadata.name=b1"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "b1 gone", func(ctx context.Context) (bool, error) {
		_, err := cms.Get(ctx, "b1", metav1.GetOptions{})
		return err != nil, nil
	})
	// Namespaces cannot be deleted as a collection.
	r = do(t, httpClient(t, s), s, "DELETE", "/api/v1/namespaces", "", nil)
	if r.code != 405 {
		t.Errorf("DELETE /api/v1/namespaces: HTTP %d, want 405 Method Not Allowed", r.code)
	}
	if _, err := s.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if nsObj, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil || nsObj.DeletionTimestamp != nil {
		t.Errorf("namespace %s after DELETE /api/v1/namespaces: %v deleting=%v", ns, err, nsObj.DeletionTimestamp != nil)
	}
}
