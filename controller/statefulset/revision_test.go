package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	stsregistry "berth/apiserver/registry/apps/statefulset"
)

// compatSet is the StatefulSet of Kubernetes' 1.33 compatibility test
// (pkg/controller/statefulset/stateful_set_compatibility_test.go), for which
// Kubernetes recorded revision test-c77f6d978 with compatData.
func compatSet() *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "test", Namespace: "test", UID: "ssuid", Generation: 1, Labels: map[string]string{"sslabel": "value"}},
		Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "foo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"test": "value"}, Labels: map[string]string{"app": "foo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Image: "test", Name: "test"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "test", Annotations: map[string]string{"key": "value"}, Labels: map[string]string{"key": "value"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	stsregistry.Default(set)
	return set
}

const compatData = `{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`

func TestRevisionMatchesKubernetes(t *testing.T) {
	set := compatSet()
	rev, err := newRevision(set, 1, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	if string(rev.Data.Raw) != compatData {
		t.Errorf("data =\n%s\nwant\n%s", rev.Data.Raw, compatData)
	}
	if rev.Name != "test-c77f6d978" {
		t.Errorf("name = %s, want test-c77f6d978", rev.Name)
	}
	if rev.Labels["app"] != "foo" || rev.Labels["controller.kubernetes.io/hash"] != "c77f6d978" || rev.Revision != 1 {
		t.Errorf("revision meta = %+v revision %d", rev.ObjectMeta, rev.Revision)
	}
}

func TestApplyRevision(t *testing.T) {
	old := testSet("web", 3)
	rev, err := newRevision(old, 1, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	cur := old.DeepCopy()
	cur.Spec.Template.Spec.Containers[0].Image = "img:2"
	cur.Spec.Template.Labels["extra"] = "x"
	cur.Spec.Replicas = ptr.To[int32](5)
	restored, err := applyRevision(cur, rev)
	if err != nil {
		t.Fatal(err)
	}
	if img := restored.Spec.Template.Spec.Containers[0].Image; img != "img:1" {
		t.Errorf("restored image %s", img)
	}
	if _, ok := restored.Spec.Template.Labels["extra"]; ok {
		t.Error("the template was merged, not replaced")
	}
	if *restored.Spec.Replicas != 5 || restored.Name != "web" {
		t.Errorf("fields outside the template changed: replicas %d name %s", *restored.Spec.Replicas, restored.Name)
	}
	// Different templates give different revisions; equal ones the same.
	other, _ := newRevision(cur, 2, ptr.To[int32](0))
	same, _ := newRevision(old.DeepCopy(), 3, ptr.To[int32](0))
	if other.Name == rev.Name || same.Name != rev.Name {
		t.Errorf("names: %s %s %s", rev.Name, other.Name, same.Name)
	}
}
