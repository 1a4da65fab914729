package server_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"berth/apiserver/registry"
	"berth/internal/testserver"
)

// A resource with no Go type, added while the server runs, is discovered
// and served by the same generic machinery: the seam custom resources use.
func TestAddResourceWhileRunning(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	err := s.Server.AddResource(&registry.Resource{
		Group: "example.com", Version: "v1", Resource: "widgets", Kind: "Widget", ListKind: "WidgetList",
		Singular: "widget", ShortNames: []string{"wd"}, Namespaced: true,
		New: func() runtime.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		},
		NewList: func() runtime.Object {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(gvk.GroupVersion().WithKind("WidgetList"))
			return l
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	resources, err := s.Client.Discovery().ServerResourcesForGroupVersion("example.com/v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(resources.APIResources) != 1 || resources.APIResources[0].Name != "widgets" || resources.APIResources[0].ShortNames[0] != "wd" {
		t.Fatalf("discovery: %+v", resources.APIResources)
	}
	widgets := s.Dynamic.Resource(gvk.GroupVersion().WithResource("widgets")).Namespace("default")
	w, err := widgets.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	obj := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w1"},
		"spec":     map[string]interface{}{"size": int64(3)},
	}}
	created, err := widgets.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetUID() == "" || created.GetResourceVersion() == "" {
		t.Fatalf("create did not fill in metadata: %v", created.Object["metadata"])
	}
	got, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
		t.Fatalf("spec.size = %d, want 3", size)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added || ev.Object.(*unstructured.Unstructured).GetName() != "w1" {
			t.Fatalf("watch event %s %v", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event")
	}
	list, err := widgets.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v %v", err, list)
	}
	if err := widgets.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := widgets.Get(ctx, "w1", metav1.GetOptions{}); err == nil {
		t.Fatal("widget still there after delete")
	}
}
