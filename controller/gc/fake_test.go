package gc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth/controller"
)

// fakeMetadata is a metadata client over a map, recording deletes.
type fakeMetadata struct {
	mu      sync.Mutex
	objs    map[string]*metav1.PartialObjectMetadata // gvr|ns|name
	rv      int
	deletes []deleteCall
}

type deleteCall struct {
	gvr    schema.GroupVersionResource
	ns     string
	name   string
	policy metav1.DeletionPropagation
	uid    types.UID
}

func newFakeMetadata() *fakeMetadata {
	return &fakeMetadata{objs: map[string]*metav1.PartialObjectMetadata{}}
}

func key(gvr schema.GroupVersionResource, ns, name string) string {
	return gvr.String() + "|" + ns + "|" + name
}

func (f *fakeMetadata) add(gvr schema.GroupVersionResource, o *metav1.PartialObjectMetadata) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	o.ResourceVersion = strconv.Itoa(f.rv)
	f.objs[key(gvr, o.Namespace, o.Name)] = o
}

func (f *fakeMetadata) get(gvr schema.GroupVersionResource, ns, name string) *metav1.PartialObjectMetadata {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objs[key(gvr, ns, name)]
}

func (f *fakeMetadata) Resource(gvr schema.GroupVersionResource) metadata.Getter {
	return &fakeResource{f: f, gvr: gvr}
}

type fakeResource struct {
	f   *fakeMetadata
	gvr schema.GroupVersionResource
	ns  string
}

func (r *fakeResource) Namespace(ns string) metadata.ResourceInterface {
	return &fakeResource{f: r.f, gvr: r.gvr, ns: ns}
}

func (r *fakeResource) notFound(name string) error {
	return apierrors.NewNotFound(r.gvr.GroupResource(), name)
}

func (r *fakeResource) Get(_ context.Context, name string, _ metav1.GetOptions, _ ...string) (*metav1.PartialObjectMetadata, error) {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	o, ok := r.f.objs[key(r.gvr, r.ns, name)]
	if !ok {
		return nil, r.notFound(name)
	}
	return o.DeepCopy(), nil
}

func (r *fakeResource) Delete(_ context.Context, name string, opts metav1.DeleteOptions, _ ...string) error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	k := key(r.gvr, r.ns, name)
	o, ok := r.f.objs[k]
	if !ok {
		return r.notFound(name)
	}
	if p := opts.Preconditions; p != nil && (p.UID != nil && *p.UID != o.UID || p.ResourceVersion != nil && *p.ResourceVersion != o.ResourceVersion) {
		return apierrors.NewConflict(r.gvr.GroupResource(), name, errors.New("precondition failed"))
	}
	call := deleteCall{gvr: r.gvr, ns: r.ns, name: name, uid: o.UID}
	if opts.PropagationPolicy != nil {
		call.policy = *opts.PropagationPolicy
	}
	r.f.deletes = append(r.f.deletes, call)
	delete(r.f.objs, k)
	return nil
}

func (r *fakeResource) Patch(_ context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, _ ...string) (*metav1.PartialObjectMetadata, error) {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	k := key(r.gvr, r.ns, name)
	o, ok := r.f.objs[k]
	if !ok {
		return nil, r.notFound(name)
	}
	if pt != types.MergePatchType {
		return nil, apierrors.NewBadRequest("merge patches only")
	}
	var p metaPatch
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	if p.Metadata.UID != o.UID || p.Metadata.ResourceVersion != o.ResourceVersion {
		return nil, apierrors.NewConflict(r.gvr.GroupResource(), name, errors.New("stale"))
	}
	cur, _ := json.Marshal(o)
	out, err := jsonpatch.MergePatch(cur, data)
	if err != nil {
		return nil, err
	}
	n := &metav1.PartialObjectMetadata{}
	if err := json.Unmarshal(out, n); err != nil {
		return nil, err
	}
	r.f.rv++
	n.ResourceVersion = strconv.Itoa(r.f.rv)
	r.f.objs[k] = n
	return n.DeepCopy(), nil
}

func (r *fakeResource) DeleteCollection(context.Context, metav1.DeleteOptions, metav1.ListOptions) error {
	return errors.New("not implemented")
}

func (r *fakeResource) List(context.Context, metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	return nil, errors.New("not implemented")
}

func (r *fakeResource) Watch(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return nil, errors.New("not implemented")
}

// staticMapper maps the kinds of the tests.
type staticMapper struct{ meta.RESTMapper }

func (staticMapper) Reset() {}

var (
	configMaps   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	clusterRoles = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
)

func newMapper() staticMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.AddSpecific(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, configMaps, configMaps.GroupVersion().WithResource("configmap"), meta.RESTScopeNamespace)
	cr := schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	m.AddSpecific(cr, clusterRoles, clusterRoles.GroupVersion().WithResource("clusterrole"), meta.RESTScopeRoot)
	return staticMapper{m}
}

// newTestController builds a collector over a fake metadata client, its
// workers not running.
func newTestController(t *testing.T, md *fakeMetadata) (*Controller, *record.FakeRecorder) {
	t.Helper()
	rec := record.NewFakeRecorder(100)
	logger := slog.New(slog.DiscardHandler)
	c := &Controller{
		cfg: Config{}, md: md, mapper: newMapper(), recorder: rec, logger: logger,
		absent:  newAbsentCache(100),
		changes: workqueue.NewTyped[*event](),
	}
	c.graph = newGraph(c.absent, c)
	c.deletes = controller.NewWorker("test-delete", logger, c.syncDelete)
	c.orphans = controller.NewWorker("test-orphan", logger, c.syncOrphan)
	t.Cleanup(c.changes.ShutDown)
	return c, rec
}

// object returns a ConfigMap's metadata.
func object(ns, name string, uid types.UID, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid, OwnerReferences: owners},
	}
}

func owner(name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: name, UID: uid, BlockOwnerDeletion: &block}
}

var cmKind = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

// observe applies an informer event for obj to the collector's graph.
func observe(c *Controller, typ eventType, obj *metav1.PartialObjectMetadata, old *metav1.PartialObjectMetadata) {
	e := &event{typ: typ, obj: obj, gvk: cmKind}
	if old != nil {
		e.old = old
	}
	c.graph.process(e)
}

// drainChanges applies the virtual events the workers queued.
func drainChanges(c *Controller) int {
	n := 0
	for c.changes.Len() > 0 {
		e, _ := c.changes.Get()
		c.graph.process(e)
		c.changes.Done(e)
		n++
	}
	return n
}

func controllerOptions() controller.Options {
	o := controller.Options{}
	o.Defaults()
	return o
}
