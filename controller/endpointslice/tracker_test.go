package endpointslice

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestTracker(t *testing.T) {
	slice := func(uid string, gen int64) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: "ns", UID: types.UID(uid), Generation: gen,
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}}
	}
	tr := newTracker()
	if tr.stale("ns/web", nil) || !tr.shouldSync(slice("a", 1)) {
		t.Fatal("an unknown Service is never stale, and its slices are news")
	}
	tr.update(slice("a", 2))
	cases := []struct {
		name   string
		cached []*discoveryv1.EndpointSlice
		stale  bool
	}{
		{"created slice not cached yet", nil, true},
		{"older generation cached", []*discoveryv1.EndpointSlice{slice("a", 1)}, true},
		{"up to date", []*discoveryv1.EndpointSlice{slice("a", 2)}, false},
		{"newer (someone else wrote)", []*discoveryv1.EndpointSlice{slice("a", 3)}, false},
	}
	for _, tc := range cases {
		if got := tr.stale("ns/web", tc.cached); got != tc.stale {
			t.Errorf("%s: stale = %v; want %v", tc.name, got, tc.stale)
		}
	}
	if tr.shouldSync(slice("a", 2)) || !tr.shouldSync(slice("a", 3)) {
		t.Error("shouldSync must skip the controller's own write only")
	}
	tr.expectDeletion(slice("a", 2))
	if !tr.stale("ns/web", []*discoveryv1.EndpointSlice{slice("a", 2)}) || tr.stale("ns/web", nil) {
		t.Error("a deleted slice still cached is stale; gone is not")
	}
	if !tr.handleDeletion(slice("a", 2)) {
		t.Error("the controller's own deletion was not recognized")
	}
	tr.update(slice("b", 1))
	if tr.handleDeletion(slice("b", 1)) {
		t.Error("someone else's deletion must trigger a sync")
	}
}
