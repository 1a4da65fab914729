package deployment

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func mkDeployment(replicas int32, surge, unavailable string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
			},
			ProgressDeadlineSeconds: ptr.To[int32](600),
			RevisionHistoryLimit:    ptr.To[int32](10),
		},
	}
	if surge == "" {
		d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		return d
	}
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	d.Spec.Strategy = appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u},
	}
	return d
}

func mkReplicaSet(name string, replicas, available int32, age time.Duration, annotations map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Annotations: annotations,
			CreationTimestamp: metav1.NewTime(t0.Add(-age)),
		},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
	}{
		{"25%", "25%", 10, 3, 2}, // surge rounds up, unavailable down
		{"25%", "25%", 4, 1, 1},
		{"25%", "25%", 1, 1, 0},
		{"30%", "30%", 5, 2, 1},
		{"0", "10%", 5, 0, 1}, // both would be 0: unavailable becomes 1
		{"0%", "1%", 50, 0, 1},
		{"3", "2", 10, 3, 2},
		{"100%", "0", 3, 3, 0},
		{"50%", "50%", 0, 0, 1}, // nothing to resolve: still 1 unavailable (capped later)
	} {
		t.Run(fmt.Sprintf("%s/%s of %d", tc.surge, tc.unavailable, tc.desired), func(t *testing.T) {
			s, u := intstr.Parse(tc.surge), intstr.Parse(tc.unavailable)
			gotS, gotU, err := ResolveFenceposts(&s, &u, tc.desired)
			if err != nil || gotS != tc.wantS || gotU != tc.wantU {
				t.Errorf("got %d, %d, %v; want %d, %d", gotS, gotU, err, tc.wantS, tc.wantU)
			}
		})
	}
	bad := intstr.FromString("lots")
	if _, _, err := ResolveFenceposts(&bad, nil, 3); err == nil {
		t.Error("a malformed percentage resolved")
	}
}

func TestMaxSurgeUnavailable(t *testing.T) {
	if d := mkDeployment(3, "", ""); maxSurge(d) != 0 || maxUnavailable(d) != 0 {
		t.Error("Recreate has no surge nor unavailability")
	}
	if d := mkDeployment(0, "1", "1"); maxUnavailable(d) != 0 {
		t.Error("no replicas: no unavailability")
	}
	// Unavailable capped at the replicas.
	if d := mkDeployment(2, "0", "5"); maxUnavailable(d) != 2 {
		t.Errorf("maxUnavailable %d, want 2", maxUnavailable(d))
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	for _, tc := range []struct {
		name       string
		d          *appsv1.Deployment
		old, newRS int32
		want       int32
	}{
		{"surge from full", mkDeployment(10, "3", "2"), 10, 0, 3},
		{"no room", mkDeployment(10, "3", "2"), 10, 3, 3},
		{"room after scale down", mkDeployment(10, "3", "2"), 8, 3, 5},
		{"never beyond desired", mkDeployment(10, "3", "2"), 0, 9, 10},
		{"percent surge rounds up", mkDeployment(5, "30%", "30%"), 5, 0, 2},
		{"recreate takes all", mkDeployment(4, "", ""), 4, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newRS := mkReplicaSet("new", tc.newRS, 0, 0, nil)
			all := []*appsv1.ReplicaSet{mkReplicaSet("old", tc.old, tc.old, time.Hour, nil), newRS}
			got, err := newRSNewReplicas(tc.d, all, newRS)
			if err != nil || got != tc.want {
				t.Errorf("got %d %v, want %d", got, err, tc.want)
			}
		})
	}
}

func TestMaxScaledDown(t *testing.T) {
	// Kubernetes' example: 10 replicas, maxSurge 3, maxUnavailable 2.
	d := mkDeployment(10, "3", "2")
	old := mkReplicaSet("old", 8, 8, time.Hour, nil)
	broken := mkReplicaSet("new", 5, 0, 0, nil)
	if got := maxScaledDown(d, []*appsv1.ReplicaSet{old, broken}, broken); got != 0 {
		t.Errorf("crash-looping new replicas: may scale down %d, want 0", got)
	}
	healthy := mkReplicaSet("new", 5, 5, 0, nil)
	if got := maxScaledDown(d, []*appsv1.ReplicaSet{old, healthy}, healthy); got != 5 {
		t.Errorf("available new replicas: may scale down %d, want 5", got)
	}
}

// TestProportionalScaling is Kubernetes' documented example and others.
func TestProportionalScaling(t *testing.T) {
	ann := func(desired, max int) map[string]string {
		return map[string]string{DesiredReplicasAnnotation: fmt.Sprint(desired), MaxReplicasAnnotation: fmt.Sprint(max)}
	}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		rss  []*appsv1.ReplicaSet
		want string
	}{
		{"10 to 15 during a stuck rollout", mkDeployment(15, "3", "2"), []*appsv1.ReplicaSet{
			mkReplicaSet("old", 8, 8, time.Hour, ann(10, 13)), mkReplicaSet("new", 5, 0, time.Minute, ann(10, 13)),
		}, "new=7,old=11"},
		{"scale down to 5", mkDeployment(5, "3", "2"), []*appsv1.ReplicaSet{
			mkReplicaSet("old", 8, 8, time.Hour, ann(10, 13)), mkReplicaSet("new", 5, 0, time.Minute, ann(10, 13)),
		}, "new=3,old=5"},
		{"to zero", mkDeployment(0, "3", "2"), []*appsv1.ReplicaSet{
			mkReplicaSet("old", 8, 8, time.Hour, ann(10, 13)), mkReplicaSet("new", 5, 0, time.Minute, ann(10, 13)),
		}, "new=0,old=0"},
		{"equal sizes: the newer grows first", mkDeployment(3, "0", "1"), []*appsv1.ReplicaSet{
			mkReplicaSet("a", 1, 1, time.Hour, ann(2, 2)), mkReplicaSet("b", 1, 1, time.Minute, ann(2, 2)),
		}, "a=1,b=2"},
		{"equal sizes: the older shrinks first", mkDeployment(1, "0", "1"), []*appsv1.ReplicaSet{
			mkReplicaSet("a", 1, 1, time.Hour, ann(2, 2)), mkReplicaSet("b", 1, 1, time.Minute, ann(2, 2)),
		}, "a=0,b=1"},
		{"no annotation: the status size is the base", mkDeployment(4, "0", "1"), []*appsv1.ReplicaSet{
			mkReplicaSet("a", 1, 1, time.Hour, nil), mkReplicaSet("b", 1, 1, time.Minute, nil),
		}, "a=2,b=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Status.Replicas = 2
			sizes := proportionalSizes(tc.d, tc.rss)
			var parts []string
			for name, n := range sizes {
				parts = append(parts, fmt.Sprintf("%s=%d", name, n))
			}
			sort.Strings(parts)
			if got := strings.Join(parts, ","); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFindActiveOrLatest(t *testing.T) {
	a := mkReplicaSet("a", 0, 0, 3*time.Hour, nil)
	b := mkReplicaSet("b", 0, 0, 2*time.Hour, nil)
	c := mkReplicaSet("c", 2, 2, time.Hour, nil)
	if got := findActiveOrLatest(nil, []*appsv1.ReplicaSet{a, b}); got != b {
		t.Errorf("none active: got %v, want the newest b", got.Name)
	}
	if got := findActiveOrLatest(a, []*appsv1.ReplicaSet{b}); got != a {
		t.Errorf("none active: got %v, want the new one", got.Name)
	}
	if got := findActiveOrLatest(a, []*appsv1.ReplicaSet{b, c}); got != c {
		t.Errorf("one active: got %v, want c", got.Name)
	}
	d := mkReplicaSet("d", 1, 1, 0, nil)
	if got := findActiveOrLatest(d, []*appsv1.ReplicaSet{b, c}); got != nil {
		t.Errorf("two active: got %v, want none", got.Name)
	}
}
