package namespace

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

func TestConditions(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	configMaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	for _, tc := range []struct {
		name string
		// before are the conditions already set (at t0).
		before []corev1.NamespaceCondition
		record func(c *conditions)
		// want: type → status, reason, message.
		want        map[corev1.NamespaceConditionType][3]string
		wantChanged bool
		// moved are the types whose transition time is t1.
		moved []corev1.NamespaceConditionType
	}{
		{
			name:   "all fine",
			record: func(*conditions) {},
			want: map[corev1.NamespaceConditionType][3]string{
				corev1.NamespaceDeletionDiscoveryFailure: {"False", "ResourcesDiscovered", "All resources successfully discovered"},
				corev1.NamespaceDeletionGVParsingFailure: {"False", "ParsedGroupVersions", "All legacy kube types successfully parsed"},
				corev1.NamespaceDeletionContentFailure:   {"False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
				corev1.NamespaceContentRemaining:         {"False", "ContentRemoved", "All content successfully removed"},
				corev1.NamespaceFinalizersRemaining:      {"False", "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
			},
			wantChanged: true,
			moved: []corev1.NamespaceConditionType{
				corev1.NamespaceDeletionDiscoveryFailure, corev1.NamespaceDeletionGVParsingFailure, corev1.NamespaceDeletionContentFailure,
				corev1.NamespaceContentRemaining, corev1.NamespaceFinalizersRemaining,
			},
		},
		{
			name: "problems",
			before: []corev1.NamespaceCondition{
				{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", Message: "old", LastTransitionTime: metav1.NewTime(t0)},
				{Type: "Other", Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)},
			},
			record: func(c *conditions) {
				c.discoveryFailed(&discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{{Group: "x", Version: "v1"}: errors.New("boom")}})
				c.deleteFailed(errors.New("b failed"))
				c.deleteFailed(errors.New("a failed"))
				left := newRemaining()
				left.add(deployments, content{left: 2})
				left.add(configMaps, content{left: 1, finalizers: map[string]int{"example.com/x": 1, "example.com/y": 0}})
				c.contentLeft(left)
			},
			want: map[corev1.NamespaceConditionType][3]string{
				corev1.NamespaceDeletionDiscoveryFailure: {"True", "DiscoveryFailed", "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: x/v1: boom"},
				corev1.NamespaceDeletionGVParsingFailure: {"False", "ParsedGroupVersions", "All legacy kube types successfully parsed"},
				corev1.NamespaceDeletionContentFailure:   {"True", "ContentDeletionFailed", "Failed to delete all resource types, 2 remaining: a failed, b failed"},
				corev1.NamespaceContentRemaining:         {"True", "SomeResourcesRemain", "Some resources are remaining: configmaps. has 1 resource instances, deployments.apps has 2 resource instances"},
				corev1.NamespaceFinalizersRemaining:      {"True", "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances"},
				"Other":                                  {"True", "", ""},
			},
			wantChanged: true,
			// ContentRemaining kept its status: its time stays.
			moved: []corev1.NamespaceConditionType{
				corev1.NamespaceDeletionDiscoveryFailure, corev1.NamespaceDeletionGVParsingFailure,
				corev1.NamespaceDeletionContentFailure, corev1.NamespaceFinalizersRemaining,
			},
		},
		{
			name: "unchanged",
			before: []corev1.NamespaceCondition{
				{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: "False", Reason: "ResourcesDiscovered", Message: "All resources successfully discovered", LastTransitionTime: metav1.NewTime(t0)},
				{Type: corev1.NamespaceDeletionGVParsingFailure, Status: "False", Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed", LastTransitionTime: metav1.NewTime(t0)},
				{Type: corev1.NamespaceDeletionContentFailure, Status: "False", Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization", LastTransitionTime: metav1.NewTime(t0)},
				{Type: corev1.NamespaceContentRemaining, Status: "False", Reason: "ContentRemoved", Message: "All content successfully removed", LastTransitionTime: metav1.NewTime(t0)},
				{Type: corev1.NamespaceFinalizersRemaining, Status: "False", Reason: "ContentHasNoFinalizers", Message: "All content-preserving finalizers finished", LastTransitionTime: metav1.NewTime(t0)},
			},
			record: func(*conditions) {},
			want: map[corev1.NamespaceConditionType][3]string{
				corev1.NamespaceDeletionDiscoveryFailure: {"False", "ResourcesDiscovered", "All resources successfully discovered"},
				corev1.NamespaceDeletionGVParsingFailure: {"False", "ParsedGroupVersions", "All legacy kube types successfully parsed"},
				corev1.NamespaceDeletionContentFailure:   {"False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
				corev1.NamespaceContentRemaining:         {"False", "ContentRemoved", "All content successfully removed"},
				corev1.NamespaceFinalizersRemaining:      {"False", "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := corev1.NamespaceStatus{Conditions: tc.before}
			c := &conditions{now: t1}
			tc.record(c)
			if changed := c.apply(&status); changed != tc.wantChanged {
				t.Errorf("changed = %v", changed)
			}
			if len(status.Conditions) != len(tc.want) {
				t.Fatalf("conditions %+v", status.Conditions)
			}
			moved := map[corev1.NamespaceConditionType]bool{}
			for _, m := range tc.moved {
				moved[m] = true
			}
			for _, got := range status.Conditions {
				if w := tc.want[got.Type]; w != [3]string{string(got.Status), got.Reason, got.Message} {
					t.Errorf("%s = %s %s %q, want %v", got.Type, got.Status, got.Reason, got.Message, w)
				}
				wantTime := t0
				if moved[got.Type] {
					wantTime = t1
				}
				if !got.LastTransitionTime.Time.Equal(wantTime) {
					t.Errorf("%s transition time %v, want %v", got.Type, got.LastTransitionTime, wantTime)
				}
			}
		})
	}
}
