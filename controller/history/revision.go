package history

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"sort"
	"strconv"

	"github.com/davecgh/go-spew/spew"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
)

// HashLabel labels a ControllerRevision with the hash of its data.
const HashLabel = "controller.kubernetes.io/hash"

// maxPrefix keeps "<prefix>-<hash>" within 253 bytes.
const maxPrefix = 223

// Name is the name of a revision: prefix (truncated to 223 bytes) "-" hash.
func Name(prefix, hash string) string {
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	return prefix + "-" + hash
}

// HashRevision hashes a revision's data (FNV-1 32 bits) and, if probe is not
// nil, the decimal probe, encoded without vowels as Kubernetes does.
func HashRevision(rev *appsv1.ControllerRevision, probe *int32) string {
	h := fnv.New32()
	if len(rev.Data.Raw) > 0 {
		h.Write(rev.Data.Raw)
	}
	if rev.Data.Object != nil {
		deepHash(h, rev.Data.Object)
	}
	if probe != nil {
		h.Write([]byte(strconv.FormatInt(int64(*probe), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// HashTemplate hashes a pod template and a collision count (FNV-1a 32 bits
// over the template's printed form), as Kubernetes' controller.ComputeHash
// does for DaemonSet revisions and ReplicaSet pod-template-hash labels.
func HashTemplate(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	deepHash(h, *template)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// deepHash writes obj's printed form, following pointers, to h (Kubernetes'
// hashutil.DeepHashObject).
func deepHash(h hash.Hash, obj interface{}) {
	h.Reset()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", obj)
}

// New returns a revision of parent (of kind) holding data, labelled with
// templateLabels and the data's hash, controlled by parent and named
// "<parent>-<hash>" (collisionCount, if set, is part of the hash).
func New(parent metav1.Object, kind schema.GroupVersionKind, templateLabels map[string]string, data []byte, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	labels := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		labels[k] = v
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       parent.GetNamespace(),
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(parent, kind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	h := HashRevision(rev, collisionCount)
	rev.Name = Name(parent.GetName(), h)
	rev.Labels[HashLabel] = h
	return rev
}

// Sort orders revisions by Revision, then creation time, then name.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// Equal reports whether two revisions hold the same data (both nil counts
// as equal). Differing hash labels make them different at once.
func Equal(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	ha, errA := strconv.ParseInt(a.Labels[HashLabel], 10, 32)
	hb, errB := strconv.ParseInt(b.Labels[HashLabel], 10, 32)
	if errA == nil && errB == nil && ha != hb {
		return false
	}
	return bytes.Equal(a.Data.Raw, b.Data.Raw) && equality.Semantic.DeepEqual(a.Data.Object, b.Data.Object)
}

// FindEqual returns the revisions equal to needle, in their order.
func FindEqual(revs []*appsv1.ControllerRevision, needle *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range revs {
		if Equal(r, needle) {
			out = append(out, r)
		}
	}
	return out
}

// Next is the number of the next revision after sorted revisions: 1 for
// none, else one more than the last.
func Next(sorted []*appsv1.ControllerRevision) int64 {
	if len(sorted) == 0 {
		return 1
	}
	return sorted[len(sorted)-1].Revision + 1
}

// Stale returns the revisions to delete so that at most limit revisions that
// are not live remain: the oldest first. sorted must be sorted (Sort); a
// negative limit keeps everything.
func Stale(sorted []*appsv1.ControllerRevision, live func(*appsv1.ControllerRevision) bool, limit int) []*appsv1.ControllerRevision {
	var old []*appsv1.ControllerRevision
	for _, r := range sorted {
		if !live(r) {
			old = append(old, r)
		}
	}
	if limit < 0 || len(old) <= limit {
		return nil
	}
	return old[:len(old)-limit]
}
