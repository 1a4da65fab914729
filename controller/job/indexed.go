package job

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

const (
	// completionIndexEnv is the variable holding a pod's index.
	completionIndexEnv = "JOB_COMPLETION_INDEX"
	noIndex            = -1
	// maxGeneratedNameLength is the longest generateName prefix the API
	// server keeps whole (63 less the 5 random characters).
	maxGeneratedNameLength = 58
)

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

// interval is a run of indexes, first to last inclusive.
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent runs: the form of
// .status.completedIndexes ("1,3-5,7").
type intervals []interval

// parseIntervals reads a list like "1,3-5,7", dropping indexes at or past
// completions and malformed parts.
func parseIntervals(s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for _, part := range strings.Split(s, ",") {
		bounds := strings.Split(part, "-")
		first, err := strconv.Atoi(bounds[0])
		if err != nil {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(bounds) > 1 {
			if last, err = strconv.Atoi(bounds[1]); err != nil {
				continue
			}
			if last >= completions {
				last = completions - 1
			}
		}
		if n := len(out); n > 0 && out[n-1].last == first-1 {
			out[n-1].last = last
		} else {
			out = append(out, interval{first, last})
		}
	}
	return out
}

// withIndexes returns the intervals with sorted indexes added.
func (iv intervals) withIndexes(sorted []int) intervals {
	add := make(intervals, len(sorted))
	for i, x := range sorted {
		add[i] = interval{x, x}
	}
	return iv.merge(add)
}

// merge returns the union of two interval lists.
func (iv intervals) merge(o intervals) intervals {
	var out intervals
	push := func(x interval) {
		n := len(out)
		switch {
		case n == 0 || x.first > out[n-1].last+1:
			out = append(out, x)
		case out[n-1].last < x.last:
			out[n-1].last = x.last
		}
	}
	i, j := 0, 0
	for i < len(iv) && j < len(o) {
		if iv[i].first < o[j].first {
			push(iv[i])
			i++
		} else {
			push(o[j])
			j++
		}
	}
	for ; i < len(iv); i++ {
		push(iv[i])
	}
	for ; j < len(o); j++ {
		push(o[j])
	}
	return out
}

// total counts the indexes.
func (iv intervals) total() int {
	n := 0
	for _, x := range iv {
		n += x.last - x.first + 1
	}
	return n
}

// String writes the list as Kubernetes does: runs of three or more as
// "a-b", pairs as "a,b".
func (iv intervals) String() string {
	var b strings.Builder
	for _, x := range iv {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x.first))
		switch {
		case x.last == x.first+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(x.last))
		case x.last > x.first:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(x.last))
		}
	}
	return b.String()
}

// has reports whether ix is in the list.
func (iv intervals) has(ix int) bool {
	i := sort.Search(len(iv), func(i int) bool { return iv[i].last >= ix })
	return i < len(iv) && iv[i].first <= ix
}

// completionIndex reads a pod's index annotation; noIndex if absent or
// invalid.
func completionIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// validIndex reports a pod with an index below completions.
func validIndex(j *batchv1.Job, p *corev1.Pod) bool {
	ix := completionIndex(p)
	return ix != noIndex && ix < int(*j.Spec.Completions)
}

// succeededIndexes returns the indexes of .status.completedIndexes and
// those plus the indexes of succeeded pods not yet counted.
func succeededIndexes(j *batchv1.Job, pods []*corev1.Pod) (prev, cur intervals) {
	completions := int(*j.Spec.Completions)
	prev = parseIntervals(j.Status.CompletedIndexes, completions)
	add := sets.New[int]()
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded && validIndex(j, p) && hasTrackingFinalizer(p) {
			add.Insert(completionIndex(p))
		}
	}
	return prev, prev.withIndexes(sets.List(add))
}

func podIndexes(pods []*corev1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if ix := completionIndex(p); ix != noIndex {
			out.Insert(ix)
		}
	}
	return out
}

// firstPendingIndexes returns up to count indexes below completions that
// no active pod, succeeded index or (when only failed pods are replaced)
// terminating pod holds.
func firstPendingIndexes(st *syncState, count, completions int) []int {
	if count == 0 {
		return nil
	}
	taken := st.succeededIndexes.withIndexes(sets.List(podIndexes(st.active)))
	if onlyReplaceFailed(st.job) {
		taken = taken.withIndexes(sets.List(podIndexes(terminatingPods(st.pods))))
	}
	taken = taken.merge(st.failedIndexes)
	out := make([]int, 0, count)
	next := 0
	for _, x := range taken {
		for ; next < completions && len(out) < count && next < x.first; next++ {
			out = append(out, next)
		}
		if next < x.last+1 {
			next = x.last + 1
		}
	}
	for ; next < completions && len(out) < count; next++ {
		out = append(out, next)
	}
	return out
}

// duplicateIndexPods splits active pods of an Indexed Job: those to remove
// (no index, an index out of range, or a repeat of an index — all but the
// best pod of each index) and those to keep.
func duplicateIndexPods(pods []*corev1.Pod, completions int) (rm, keep []*corev1.Pod) {
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool { return completionIndex(sorted[i]) < completionIndex(sorted[j]) })
	for start := 0; start < len(sorted); {
		ix := completionIndex(sorted[start])
		end := start + 1
		for end < len(sorted) && completionIndex(sorted[end]) == ix {
			end++
		}
		group := sorted[start:end]
		switch {
		case ix == noIndex || ix >= completions:
			rm = append(rm, group...)
		case len(group) == 1:
			keep = append(keep, group[0])
		default:
			sortForRemoval(group)
			rm = append(rm, group[:len(group)-1]...)
			keep = append(keep, group[len(group)-1])
		}
		start = end
	}
	return rm, keep
}

// indexedTemplate adds a completion index to a pod template: annotation,
// label, hostname, and the JOB_COMPLETION_INDEX variable (added to every
// container beforehand by addIndexEnv). It returns the generateName of
// the pod.
func indexedTemplate(t *corev1.PodTemplateSpec, jobName string, ix int) string {
	s := strconv.Itoa(ix)
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[batchv1.JobCompletionIndexAnnotation] = s
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[batchv1.JobCompletionIndexAnnotation] = s
	t.Spec.Hostname = fmt.Sprintf("%s-%d", jobName, ix)
	suffix := "-" + s + "-"
	prefix := jobName + suffix
	if len(prefix) > maxGeneratedNameLength {
		prefix = prefix[:maxGeneratedNameLength-len(suffix)] + suffix
	}
	return prefix
}

// addIndexEnv gives every container the JOB_COMPLETION_INDEX variable,
// read from the pod's index label.
func addIndexEnv(t *corev1.PodTemplateSpec) {
	add := func(cs []corev1.Container) {
		for i := range cs {
			found := false
			for _, e := range cs[i].Env {
				if e.Name == completionIndexEnv {
					found = true
					break
				}
			}
			if !found {
				cs[i].Env = append(cs[i].Env, corev1.EnvVar{
					Name: completionIndexEnv,
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
						FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation),
					}},
				})
			}
		}
	}
	add(t.Spec.InitContainers)
	add(t.Spec.Containers)
}
