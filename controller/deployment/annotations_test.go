package deployment

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := mkDeployment(3, "25%", "25%")
	d.Annotations = map[string]string{
		"kubernetes.io/change-cause": "v2",
		lastAppliedAnnotation:        "{}",
		RevisionAnnotation:           "7",
		rollbackToAnnotation:         "1",
		"team":                       "a",
	}
	// A ReplicaSet about to be created.
	rs := mkReplicaSet("new", 0, 0, 0, nil)
	if !setNewReplicaSetAnnotations(d, rs, "4", false) {
		t.Error("no change reported")
	}
	want := map[string]string{
		"kubernetes.io/change-cause": "v2", "team": "a",
		RevisionAnnotation: "4", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4",
	}
	if len(rs.Annotations) != len(want) {
		t.Errorf("annotations %v", rs.Annotations)
	}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("%s=%q, want %q", k, rs.Annotations[k], v)
		}
	}
	// Nothing new: no change.
	if setNewReplicaSetAnnotations(d, rs, "4", true) {
		t.Error("change reported for an up-to-date replica set")
	}
	// A higher revision already: kept.
	if setNewReplicaSetAnnotations(d, rs, "3", true) || rs.Annotations[RevisionAnnotation] != "4" {
		t.Error("revision lowered")
	}
	// Rolled back to: the new revision, the old ones remembered.
	setNewReplicaSetAnnotations(d, rs, "6", true)
	setNewReplicaSetAnnotations(d, rs, "9", true)
	if rs.Annotations[RevisionAnnotation] != "9" || rs.Annotations[RevisionHistoryAnnotation] != "4,6" {
		t.Errorf("after rollbacks: %v", rs.Annotations)
	}
	// Unparsable revision: left alone.
	bad := mkReplicaSet("bad", 0, 0, 0, map[string]string{RevisionAnnotation: "x"})
	if setNewReplicaSetAnnotations(d, bad, "2", true) || bad.Annotations[RevisionAnnotation] != "x" {
		t.Error("unparsable revision replaced")
	}
}

func TestRevisionHistoryBounded(t *testing.T) {
	rs := mkReplicaSet("rs", 0, 0, 0, map[string]string{RevisionHistoryAnnotation: strings.Repeat("12345,", 333) + "99999"})
	appendRevisionHistory(rs, "100000")
	h := rs.Annotations[RevisionHistoryAnnotation]
	if len(h) > maxRevHistoryLength || !strings.HasSuffix(h, ",99999,100000") || strings.Count(h, ",") != 332 {
		t.Errorf("history of %d characters, ending %q", len(h), h[len(h)-20:])
	}
}

func TestMaxRevisionAndOrder(t *testing.T) {
	a := mkReplicaSet("a", 0, 0, time.Hour, map[string]string{RevisionAnnotation: "3"})
	b := mkReplicaSet("b", 0, 0, 2*time.Hour, map[string]string{RevisionAnnotation: "10"})
	c := mkReplicaSet("c", 0, 0, 3*time.Hour, map[string]string{RevisionAnnotation: "oops"})
	e := mkReplicaSet("e", 0, 0, 4*time.Hour, nil)
	if got := maxRevision([]*appsv1.ReplicaSet{a, b, c, e}); got != 10 {
		t.Errorf("max revision %d", got)
	}
	rss := []*appsv1.ReplicaSet{b, a, e}
	sortByRevision(rss)
	if rss[0] != e || rss[1] != a || rss[2] != b {
		t.Errorf("by revision: %s %s %s", rss[0].Name, rss[1].Name, rss[2].Name)
	}
}
