package volume

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"berth/internal/informer"
)

type objectKind string

const (
	kindConfigMap objectKind = "configmap"
	kindSecret    objectKind = "secret"
)

// objectKey names a ConfigMap or Secret a pod's volumes use.
type objectKey struct {
	kind      objectKind
	namespace string
	name      string
}

// references lists the ConfigMaps and Secrets the pod's volumes read.
func references(pod *corev1.Pod) []objectKey {
	seen := map[objectKey]bool{}
	add := func(kind objectKind, name string) {
		if name != "" {
			seen[objectKey{kind: kind, namespace: pod.Namespace, name: name}] = true
		}
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add(kindConfigMap, v.ConfigMap.Name)
		case v.Secret != nil:
			add(kindSecret, v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(kindConfigMap, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add(kindSecret, s.Secret.Name)
				}
			}
		}
	}
	out := make([]objectKey, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	return out
}

// objectWatch is a watch of one object (a metadata.name field selector)
// and the store it fills.
type objectWatch struct {
	store  cache.Store
	synced func() bool
	stop   context.CancelFunc
}

// syncWatchesLocked starts a watch for every object a registered pod
// references and stops those no pod references any more. It does nothing
// unless Run is running. m.mu must be held.
func (m *Manager) syncWatchesLocked() {
	if m.runCtx == nil {
		return
	}
	need := map[objectKey]bool{}
	for _, st := range m.pods {
		for _, k := range st.refs {
			need[k] = true
		}
	}
	for k, w := range m.watches {
		if !need[k] {
			w.stop()
			delete(m.watches, k)
		}
	}
	for k := range need {
		if m.watches[k] == nil {
			m.watches[k] = m.startWatch(m.runCtx, k)
		}
	}
}

// startWatch lists and watches one object and queues the pods using it
// for a refresh on every change (and once it is first listed, which
// covers changes between a pod's Setup and the watch's start).
func (m *Manager) startWatch(parent context.Context, key objectKey) *objectWatch {
	ctx, cancel := context.WithCancel(parent)
	selector := fields.OneTermEqualSelector("metadata.name", key.name).String()
	core := m.cfg.Client.CoreV1()
	var lw *cache.ListWatch
	var obj runtime.Object
	switch key.kind {
	case kindConfigMap:
		obj = &corev1.ConfigMap{}
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return core.ConfigMaps(key.namespace).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return core.ConfigMaps(key.namespace).Watch(ctx, o)
			},
		}
	default:
		obj = &corev1.Secret{}
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return core.Secrets(key.namespace).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return core.Secrets(key.namespace).Watch(ctx, o)
			},
		}
	}
	changed := func(o any) {
		// Only this object matters (a fake client may ignore the selector).
		if mo, ok := informer.Object[metav1.Object](o); ok && mo.GetName() != key.name {
			return
		}
		m.markDirty(key)
	}
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    obj,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    changed,
			UpdateFunc: func(_, o any) { changed(o) },
			DeleteFunc: changed,
		},
	})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctrl.RunWithContext(ctx)
	}()
	return &objectWatch{store: store, synced: ctrl.HasSynced, stop: cancel}
}

// cached returns the object from its watch: ok is false when there is no
// synced watch (the caller asks the API instead); found is false when the
// synced watch says the object does not exist.
func (m *Manager) cached(key objectKey) (obj any, ok, found bool) {
	m.mu.Lock()
	w := m.watches[key]
	m.mu.Unlock()
	if w == nil || !w.synced() {
		return nil, false, false
	}
	obj, found, err := w.store.GetByKey(key.namespace + "/" + key.name)
	if err != nil {
		return nil, false, false
	}
	return obj, true, found
}
