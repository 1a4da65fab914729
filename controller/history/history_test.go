package history

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// k8sData is the revision data Kubernetes 1.33 recorded for a StatefulSet
// "test" (pkg/controller/statefulset/testdata/compatibility_revision_1.33.0.json),
// whose revision it named test-c77f6d978.
const k8sData = `{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`

var setKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

func TestHashRevisionMatchesKubernetes(t *testing.T) {
	owner := &metav1.ObjectMeta{Name: "test", Namespace: "default", UID: "u1"}
	rev := New(owner, setKind, map[string]string{"app": "foo"}, []byte(k8sData), 1, ptr.To[int32](0))
	if rev.Name != "test-c77f6d978" {
		t.Errorf("name = %s, want test-c77f6d978", rev.Name)
	}
	if got := rev.Labels[HashLabel]; got != "c77f6d978" {
		t.Errorf("hash label = %q", got)
	}
	if rev.Labels["app"] != "foo" || rev.Revision != 1 || rev.Namespace != "default" {
		t.Errorf("revision = %+v", rev.ObjectMeta)
	}
	ref := metav1.GetControllerOf(rev)
	if ref == nil || ref.UID != "u1" || ref.Kind != "StatefulSet" || ref.APIVersion != "apps/v1" || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref = %+v", ref)
	}
	// The collision count is part of the hash.
	if HashRevision(rev, ptr.To[int32](1)) == HashRevision(rev, ptr.To[int32](0)) {
		t.Error("collision count does not change the hash")
	}
	// A nil probe and a zero probe differ ("0" is hashed).
	if HashRevision(rev, nil) == HashRevision(rev, ptr.To[int32](0)) {
		t.Error("nil and zero probes hash alike")
	}
}

func TestHashTemplate(t *testing.T) {
	a := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "one"}}}}
	b := a.DeepCopy()
	b.Spec.Containers[0].Image = "two"
	for _, tc := range []struct {
		name   string
		x, y   string
		differ bool
	}{
		{"same template", HashTemplate(a, nil), HashTemplate(a.DeepCopy(), nil), false},
		{"other image", HashTemplate(a, nil), HashTemplate(b, nil), true},
		{"collision count", HashTemplate(a, nil), HashTemplate(a, ptr.To[int32](1)), true},
	} {
		if (tc.x != tc.y) != tc.differ {
			t.Errorf("%s: %s vs %s", tc.name, tc.x, tc.y)
		}
		if strings.ContainsAny(tc.x, "aeiou") {
			t.Errorf("%s: hash %s has vowels", tc.name, tc.x)
		}
	}
}

func TestName(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, tc := range []struct{ prefix, want string }{
		{"web", "web-abc"},
		{long, long[:223] + "-abc"},
	} {
		if got := Name(tc.prefix, "abc"); got != tc.want {
			t.Errorf("Name(%d bytes) = %d bytes", len(tc.prefix), len(got))
		}
	}
}

func rev(name string, n int64, created time.Time, data string) *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(created)},
		Revision:   n, Data: runtime.RawExtension{Raw: []byte(data)},
	}
}

func names(revs []*appsv1.ControllerRevision) string {
	var s []string
	for _, r := range revs {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}

func TestSortNextStale(t *testing.T) {
	t0 := time.Unix(1000, 0)
	revs := []*appsv1.ControllerRevision{
		rev("c", 3, t0, "c"), rev("b2", 2, t0.Add(time.Second), "b"), rev("b1", 2, t0, "b"),
		rev("a", 1, t0, "a"), rev("b0", 2, t0, "b"),
	}
	Sort(revs)
	if got := names(revs); got != "a,b0,b1,b2,c" {
		t.Fatalf("sorted = %s", got)
	}
	if Next(revs) != 4 || Next(nil) != 1 {
		t.Errorf("Next = %d, %d", Next(revs), Next(nil))
	}
	live := func(r *appsv1.ControllerRevision) bool { return r.Name == "c" || r.Name == "b0" }
	for _, tc := range []struct {
		limit int
		want  string
	}{
		{-1, ""}, {0, "a,b1,b2"}, {1, "a,b1"}, {3, ""}, {10, ""},
	} {
		if got := names(Stale(revs, live, tc.limit)); got != tc.want {
			t.Errorf("Stale(limit %d) = %q, want %q", tc.limit, got, tc.want)
		}
	}
}

func TestEqual(t *testing.T) {
	a := rev("a", 1, time.Time{}, "x")
	b := rev("b", 2, time.Time{}, "x")
	c := rev("c", 3, time.Time{}, "y")
	if !Equal(a, b) || Equal(a, c) || !Equal(nil, nil) || Equal(a, nil) {
		t.Error("Equal on data")
	}
	a.Labels = map[string]string{HashLabel: "1"}
	b.Labels = map[string]string{HashLabel: "2"}
	if Equal(a, b) {
		t.Error("revisions with different hash labels are equal")
	}
	if got := names(FindEqual([]*appsv1.ControllerRevision{a, c, b}, rev("n", 0, time.Time{}, "x"))); got != "a,b" {
		t.Errorf("FindEqual = %s", got)
	}
}

func TestStoreCreateCollision(t *testing.T) {
	ctx := context.Background()
	owner := &metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"}
	want := New(owner, setKind, nil, []byte(`{"a":1}`), 1, ptr.To[int32](0))
	// Something else already holds the name the data hashes to.
	squatter := want.DeepCopy()
	squatter.Data.Raw = []byte(`{"other":1}`)
	client := fake.NewSimpleClientset(squatter)
	factory := informers.NewSharedInformerFactory(client, 0)
	store := NewStore(client, factory.Apps().V1().ControllerRevisions().Lister())

	count := int32(0)
	got, err := store.Create(ctx, owner, want, &count)
	if err != nil {
		t.Fatal(err)
	}
	if count != 1 || got.Name == squatter.Name || got.Name != Name("web", HashRevision(want, ptr.To[int32](1))) {
		t.Errorf("after a collision: count %d, name %s", count, got.Name)
	}
	// The same data again returns the existing revision without a new collision.
	again, err := store.Create(ctx, owner, want, &count)
	if err != nil || again.Name != got.Name || count != 1 {
		t.Errorf("second create: %v %v count %d", again, err, count)
	}
	if _, err := store.Create(ctx, owner, want, nil); err == nil {
		t.Error("nil collision count accepted")
	}
}

func TestStoreListRenumberDelete(t *testing.T) {
	ctx := context.Background()
	owner := &metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"}
	mine := New(owner, setKind, map[string]string{"app": "web"}, []byte("1"), 1, nil)
	orphan := rev("orphan", 1, time.Time{}, "2")
	orphan.Labels = map[string]string{"app": "web"}
	other := New(&metav1.ObjectMeta{Name: "x", Namespace: "ns", UID: "u2"}, setKind, map[string]string{"app": "web"}, []byte("3"), 1, nil)
	client := fake.NewSimpleClientset(mine, orphan, other)
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Apps().V1().ControllerRevisions().Informer()
	for _, r := range []*appsv1.ControllerRevision{mine, orphan, other} {
		if err := inf.GetIndexer().Add(r); err != nil {
			t.Fatal(err)
		}
	}
	store := NewStore(client, factory.Apps().V1().ControllerRevisions().Lister())
	got, err := store.List(owner, labels.SelectorFromSet(labels.Set{"app": "web"}))
	if err != nil {
		t.Fatal(err)
	}
	Sort(got)
	if n := names(got); n != strings.Join([]string{mine.Name, "orphan"}, ",") && n != strings.Join([]string{"orphan", mine.Name}, ",") {
		t.Errorf("List = %s", n)
	}
	renumbered, err := store.Renumber(ctx, mine, 7)
	if err != nil || renumbered.Revision != 7 {
		t.Fatalf("Renumber: %v %v", renumbered, err)
	}
	stored, _ := client.AppsV1().ControllerRevisions("ns").Get(ctx, mine.Name, metav1.GetOptions{})
	if stored.Revision != 7 {
		t.Errorf("stored revision = %d", stored.Revision)
	}
	if err := store.Delete(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, mine); err != nil {
		t.Errorf("deleting a deleted revision: %v", err)
	}
	if _, err := store.Adopt(ctx, owner, setKind, other); err == nil {
		t.Error("adopted a revision controlled by another owner")
	}
}

func TestClaimer(t *testing.T) {
	ctx := context.Background()
	owner := &metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "owner"}
	mine := metav1.NewControllerRef(owner, setKind)
	theirs := metav1.NewControllerRef(&metav1.ObjectMeta{Name: "x", UID: "other"}, setKind)
	now := metav1.Now()
	for _, tc := range []struct {
		name          string
		obj           metav1.ObjectMeta
		match         bool
		ownerDeleting bool
		canAdopt      error
		want          bool
		wantPatch     string // "adopt", "release" or ""
		wantErr       bool
	}{
		{name: "owned and matching", obj: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{*mine}}, match: true, want: true},
		{name: "owned, no longer matching", obj: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{*mine}}, wantPatch: "release"},
		{name: "owned, not matching, owner deleting", obj: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{*mine}}, ownerDeleting: true},
		{name: "someone else's", obj: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{*theirs}}, match: true},
		{name: "matching orphan", obj: metav1.ObjectMeta{}, match: true, want: true, wantPatch: "adopt"},
		{name: "orphan not matching", obj: metav1.ObjectMeta{}},
		{name: "deleting orphan", obj: metav1.ObjectMeta{DeletionTimestamp: &now}, match: true},
		{name: "orphan, owner deleting", obj: metav1.ObjectMeta{}, match: true, ownerDeleting: true},
		{name: "orphan, owner gone", obj: metav1.ObjectMeta{}, match: true, canAdopt: context.Canceled, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := owner.DeepCopy()
			if tc.ownerDeleting {
				o.DeletionTimestamp = &now
			}
			obj := tc.obj.DeepCopy()
			obj.Name, obj.Namespace, obj.UID = "pod", "ns", types.UID("pod-uid")
			var patched string
			c := &Claimer{
				Owner: o, Kind: setKind,
				Match:    func(metav1.Object) bool { return tc.match },
				CanAdopt: func(context.Context) error { return tc.canAdopt },
				Patch: func(_ context.Context, name string, p []byte) error {
					switch {
					case strings.Contains(string(p), `"$patch":"delete"`):
						patched = "release"
					case strings.Contains(string(p), `"controller":true`):
						patched = "adopt"
					}
					if !strings.Contains(string(p), `"uid":"pod-uid"`) {
						t.Errorf("patch without the object's uid precondition: %s", p)
					}
					return nil
				},
			}
			got, err := c.Claim(ctx, obj)
			if (err != nil) != tc.wantErr || got != tc.want || patched != tc.wantPatch {
				t.Errorf("Claim = %v, %v, patch %q; want %v, err %v, patch %q", got, err, patched, tc.want, tc.wantErr, tc.wantPatch)
			}
		})
	}
}
