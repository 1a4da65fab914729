package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNamespaces checks the system namespaces and namespace lifecycle.
func TestNamespaces(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := ctxFor(t)
	nss := s.Client.CoreV1().Namespaces()

	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns, err := nss.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("namespace %s: %v", name, err)
			continue
		}
		if ns.Status.Phase != corev1.NamespaceActive || ns.Labels[corev1.LabelMetadataName] != name {
			t.Errorf("namespace %s: phase %q labels %v", name, ns.Status.Phase, ns.Labels)
		}
	}

	t.Run("CreateInMissingNamespace", func(t *testing.T) {
		_, err := s.Client.CoreV1().ConfigMaps("nowhere").Create(ctx, configMap("x", nil), metav1.CreateOptions{})
		st := expectError(t, err, 404, metav1.StatusReasonNotFound, `namespaces "nowhere" not found`)
		if st.Details == nil || st.Details.Name != "nowhere" || st.Details.Kind != "namespaces" {
			t.Errorf("details %+v, want name nowhere kind namespaces", st.Details)
		}
		// Namespace in the body and in the URL must agree.
		cm := configMap("x", nil)
		cm.Namespace = "other"
		_, err = s.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		expectError(t, err, 400, metav1.StatusReasonBadRequest, "the namespace of the provided object does not match the namespace sent on the request")
	})

	t.Run("DeleteMakesTerminating", func(t *testing.T) {
		ns := newNamespace(t, s)
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, configMap("before", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := nss.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := nss.Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("deleted namespace is gone before it is emptied: %v", err)
		}
		if got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil {
			t.Errorf("deleted namespace: phase %q deletionTimestamp %v, want Terminating and set", got.Status.Phase, got.DeletionTimestamp)
		}
		// Kubernetes' namespace storage sets deletionTimestamp and the phase,
		// not a grace period.
		if got.DeletionGracePeriodSeconds != nil {
			t.Errorf("deletionGracePeriodSeconds %d on a deleted namespace, want unset", *got.DeletionGracePeriodSeconds)
		}
		if len(got.Spec.Finalizers) != 1 || got.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
			t.Errorf("spec.finalizers %v, want [kubernetes]", got.Spec.Finalizers)
		}

		// Nothing new may be created in it.
		_, err = s.Client.CoreV1().ConfigMaps(ns).Create(ctx, configMap("after", nil), metav1.CreateOptions{})
		st := expectError(t, err, 403, metav1.StatusReasonForbidden,
			`configmaps "after" is forbidden: unable to create new content in namespace `+ns+` because it is being terminated`)
		expectCause(t, st, corev1.NamespaceTerminatingCause, "metadata.namespace", "namespace "+ns+" is being terminated")
		// Existing objects may still change.
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Update(ctx, configMap("before", map[string]string{"x": "y"}), metav1.UpdateOptions{}); err != nil {
			t.Errorf("update in a terminating namespace: %v", err)
		}

		// The namespace controller finishes through /finalize.
		got.Spec.Finalizers = nil
		if _, err := nss.Finalize(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("finalize: %v", err)
		}
		_, err = nss.Get(ctx, ns, metav1.GetOptions{})
		expectError(t, err, 404, metav1.StatusReasonNotFound, `namespaces "`+ns+`" not found`)
	})

	t.Run("SystemNamespacesCannotBeDeleted", func(t *testing.T) {
		for _, name := range []string{"default", "kube-system", "kube-public"} {
			err := nss.Delete(ctx, name, metav1.DeleteOptions{})
			expectError(t, err, 403, metav1.StatusReasonForbidden, `namespaces "`+name+`" is forbidden: this namespace may not be deleted`)
			got, err := nss.Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.DeletionTimestamp != nil {
				t.Errorf("%s after a refused delete: %v deleting=%v", name, err, got.DeletionTimestamp != nil)
			}
		}
	})

	t.Run("InvalidName", func(t *testing.T) {
		_, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Not_Valid"}}, metav1.CreateOptions{})
		st := expectError(t, err, 422, metav1.StatusReasonInvalid, "")
		expectCause(t, st, metav1.CauseTypeFieldValueInvalid, "metadata.name", "a lowercase RFC 1123 label must consist of")
	})
}
