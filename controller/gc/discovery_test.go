package gc

import (
	"errors"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// fakeDiscovery serves fixed preferred resources.
type fakeDiscovery struct {
	lists []*metav1.APIResourceList
	err   error
}

func (f *fakeDiscovery) ServerResourcesForGroupVersion(string) (*metav1.APIResourceList, error) {
	return nil, errors.New("not implemented")
}

func (f *fakeDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	return nil, nil, errors.New("not implemented")
}

func (f *fakeDiscovery) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	return f.lists, f.err
}

func (f *fakeDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return nil, errors.New("not implemented")
}

func TestDeletableResources(t *testing.T) {
	all := []string{"delete", "list", "watch", "get"}
	d := &fakeDiscovery{lists: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Verbs: all},
			{Name: "events", Kind: "Event", Verbs: all},
			{Name: "bindings", Kind: "Binding", Verbs: []string{"create"}},
			{Name: "componentstatuses", Kind: "ComponentStatus", Verbs: []string{"get", "list"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Verbs: all}}},
	}}
	found, err := deletableResources(d)
	if err != nil {
		t.Fatal(err)
	}
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	events := schema.GroupVersionResource{Version: "v1", Resource: "events"}
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	want := map[schema.GroupVersionResource]string{pods: "Pod", events: "Event", deployments: "Deployment"}
	if !reflect.DeepEqual(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}

	var cfg Config
	cfg.Defaults(controllerOptions())
	known := map[schema.GroupVersionResource]string{widgets: "Widget", deployments: "Deployment"}
	got := toMonitor(found, nil, known, cfg.IgnoredResources)
	if want := map[schema.GroupVersionResource]string{pods: "Pod", deployments: "Deployment"}; !reflect.DeepEqual(got, want) {
		t.Errorf("to monitor %v, want %v (events ignored, widgets gone)", got, want)
	}
	// The widgets' group failing discovery keeps their monitor.
	failed := &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{widgets.GroupVersion(): errors.New("unavailable")}}
	got = toMonitor(found, failed, known, cfg.IgnoredResources)
	if want := map[schema.GroupVersionResource]string{pods: "Pod", deployments: "Deployment", widgets: "Widget"}; !reflect.DeepEqual(got, want) {
		t.Errorf("to monitor %v, want %v", got, want)
	}
	if !sameResources(got, map[schema.GroupVersionResource]string{pods: "Pod", deployments: "Deployment", widgets: "Widget"}) || sameResources(got, known) || sameResources(nil, nil) {
		t.Error("sameResources")
	}
}
