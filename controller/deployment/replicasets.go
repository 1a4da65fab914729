package deployment

import (
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// Annotations the controller writes, as Kubernetes'.
const (
	// RevisionAnnotation is a ReplicaSet's place in the rollout sequence
	// (and the Deployment's current revision).
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a ReplicaSet
	// served, when a rollback made it new again.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's spec.replicas when the
	// ReplicaSet was last scaled.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is spec.replicas + maxSurge when the ReplicaSet
	// was last scaled: the base of proportional scaling.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// rollbackToAnnotation carries the deprecated extensions/v1beta1
	// rollbackTo field; it is never copied.
	rollbackToAnnotation = "deprecated.deployment.rollback.to"
	// lastAppliedAnnotation is kubectl apply's; it is never copied.
	lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
)

// maxRevHistoryLength bounds the revision-history annotation (characters).
const maxRevHistoryLength = 2000

// skipCopy reports the Deployment annotations not copied to its ReplicaSets.
func skipCopy(k string) bool {
	switch k {
	case lastAppliedAnnotation, RevisionAnnotation, RevisionHistoryAnnotation,
		DesiredReplicasAnnotation, MaxReplicasAnnotation, rollbackToAnnotation:
		return true
	}
	return false
}

// replicasOf is a ReplicaSet's spec.replicas (nil counts as 0 here: the
// controller always sets it).
func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

// desired is a Deployment's spec.replicas (defaulted to 1 by the API).
func desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// revision reads a ReplicaSet's revision annotation; none is 0.
func revision(rs *appsv1.ReplicaSet) (int64, error) {
	v, ok := rs.Annotations[RevisionAnnotation]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// maxRevision is the highest revision among rss (unparsable ones skipped).
func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		if v, err := revision(rs); err == nil && v > m {
			m = v
		}
	}
	return m
}

// copyAnnotations copies the Deployment's annotations (but those skipped)
// to rs, reporting a change.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipCopy(k) || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setNewReplicaSetAnnotations brings the annotations of the new ReplicaSet
// up to date: the Deployment's annotations, the revision newRevision if
// higher (remembering the one it replaces in revision-history: a rollback),
// and, for a ReplicaSet not yet created, the replicas annotations.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := copyAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	oldRevision, had := rs.Annotations[RevisionAnnotation]
	oldN, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return false
		}
		oldN = 0
	}
	newN, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return false
	}
	if oldN < newN {
		rs.Annotations[RevisionAnnotation] = newRevision
		changed = true
		if had {
			appendRevisionHistory(rs, oldRevision)
		}
	}
	if !exists && setReplicasAnnotations(rs, desired(d), desired(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory adds old to the revision-history annotation,
// dropping the oldest entries beyond maxRevHistoryLength characters.
func appendRevisionHistory(rs *appsv1.ReplicaSet, old string) {
	history := rs.Annotations[RevisionHistoryAnnotation]
	if history == "" {
		rs.Annotations[RevisionHistoryAnnotation] = old
		return
	}
	olds := strings.Split(history, ",")
	total := len(history) + len(old) + 1
	start := 0
	for total > maxRevHistoryLength && start < len(olds) {
		total -= len(olds[start]) + 1
		start++
	}
	if total <= maxRevHistoryLength {
		rs.Annotations[RevisionHistoryAnnotation] = strings.Join(append(olds[start:], old), ",")
	}
}

// setReplicasAnnotations records desired and max replicas on rs.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desiredReplicas, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	if v := strconv.Itoa(int(desiredReplicas)); rs.Annotations[DesiredReplicasAnnotation] != v {
		rs.Annotations[DesiredReplicasAnnotation] = v
		changed = true
	}
	if v := strconv.Itoa(int(maxReplicas)); rs.Annotations[MaxReplicasAnnotation] != v {
		rs.Annotations[MaxReplicasAnnotation] = v
		changed = true
	}
	return changed
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desiredReplicas, maxReplicas int32) bool {
	return rs.Annotations[DesiredReplicasAnnotation] != strconv.Itoa(int(desiredReplicas)) ||
		rs.Annotations[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

// intAnnotation reads an int32 annotation of rs.
func intAnnotation(rs *appsv1.ReplicaSet, k string) (int32, bool) {
	v, ok := rs.Annotations[k]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// byCreation sorts ReplicaSets oldest first (then by name).
type byCreation []*appsv1.ReplicaSet

func (o byCreation) Len() int      { return len(o) }
func (o byCreation) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o byCreation) Less(i, j int) bool {
	if o[i].CreationTimestamp.Equal(&o[j].CreationTimestamp) {
		return o[i].Name < o[j].Name
	}
	return o[i].CreationTimestamp.Before(&o[j].CreationTimestamp)
}

// bySizeOlder sorts larger first, then older first.
type bySizeOlder []*appsv1.ReplicaSet

func (o bySizeOlder) Len() int      { return len(o) }
func (o bySizeOlder) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o bySizeOlder) Less(i, j int) bool {
	if replicasOf(o[i]) == replicasOf(o[j]) {
		return byCreation(o).Less(i, j)
	}
	return replicasOf(o[i]) > replicasOf(o[j])
}

// bySizeNewer sorts larger first, then newer first.
type bySizeNewer []*appsv1.ReplicaSet

func (o bySizeNewer) Len() int      { return len(o) }
func (o bySizeNewer) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o bySizeNewer) Less(i, j int) bool {
	if replicasOf(o[i]) == replicasOf(o[j]) {
		return byCreation(o).Less(j, i)
	}
	return replicasOf(o[i]) > replicasOf(o[j])
}

// byRevision sorts lowest revision first, then oldest first.
type byRevision []*appsv1.ReplicaSet

func (o byRevision) Len() int      { return len(o) }
func (o byRevision) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o byRevision) Less(i, j int) bool {
	ri, erri := revision(o[i])
	rj, errj := revision(o[j])
	if erri != nil || errj != nil || ri == rj {
		return byCreation(o).Less(i, j)
	}
	return ri < rj
}

// withNew is olds and newRS (possibly nil) in a new slice.
func withNew(olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(olds)+1)
	return append(append(out, olds...), newRS)
}

// active keeps the ReplicaSets with replicas.
func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicasOf(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// findNewReplicaSet returns the oldest ReplicaSet whose template is the
// Deployment's, or nil. It sorts rss.
func findNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sort.Sort(byCreation(rss))
	for _, rs := range rss {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// findOldReplicaSets returns the old ReplicaSets with replicas, and all of
// them.
func findOldReplicaSets(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (withReplicas, all []*appsv1.ReplicaSet) {
	newRS := findNewReplicaSet(d, rss)
	for _, rs := range rss {
		if newRS != nil && rs.UID == newRS.UID {
			continue
		}
		all = append(all, rs)
		if replicasOf(rs) != 0 {
			withReplicas = append(withReplicas, rs)
		}
	}
	return withReplicas, all
}

// findActiveOrLatest returns the only ReplicaSet with replicas, or the
// newest when none has; nil when several have (they scale
// proportionally). It sorts olds.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(olds) == 0 {
		return nil
	}
	sort.Sort(sort.Reverse(byCreation(olds)))
	all := active(withNew(olds, newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return olds[0]
	case 1:
		return all[0]
	default:
		return nil
	}
}

// specReplicas sums spec.replicas.
func specReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += replicasOf(rs)
	}
	return n
}

// statusReplicas sums status.replicas.
func statusReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.Replicas
		}
	}
	return n
}

func readyReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.ReadyReplicas
		}
	}
	return n
}

func availableReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

// isSaturated reports whether the new ReplicaSet runs the whole
// Deployment: all its replicas, recorded as desired, all available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	if !ok {
		return false
	}
	return replicasOf(rs) == desired(d) && want == desired(d) && rs.Status.AvailableReplicas == desired(d)
}

func sortByRevision(rss []*appsv1.ReplicaSet) { sort.Sort(byRevision(rss)) }
