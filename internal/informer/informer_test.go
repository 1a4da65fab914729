package informer

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	for _, tc := range []struct {
		name string
		obj  any
		want *corev1.Pod
		ok   bool
	}{
		{"pod", pod, pod, true},
		{"tombstone of a pod", cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod}, pod, true},
		{"tombstone of a node", cache.DeletedFinalStateUnknown{Key: "n", Obj: node}, nil, false},
		{"node", node, nil, false},
		{"nil", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Object[*corev1.Pod](tc.obj)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Object(%T) = %v, %v; want %v, %v", tc.obj, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestObjectInterface(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if got, ok := Object[metav1.Object](cache.DeletedFinalStateUnknown{Key: "p", Obj: pod}); !ok || got.GetName() != "p" {
		t.Errorf("Object[metav1.Object](tombstone) = %v, %v; want the pod", got, ok)
	}
	if _, ok := Object[metav1.Object]("p"); ok {
		t.Error("Object[metav1.Object](string) ok; want !ok")
	}
}
