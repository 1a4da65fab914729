package generic

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"berth/apiserver/registry"
)

// fieldManagers keep metadata.managedFields for the main resource and its
// status subresource, and perform server-side apply.
type fieldManagers struct {
	main, status *managedfields.FieldManager
}

func newFieldManagers(cfg Config) (*fieldManagers, error) {
	if cfg.TypeConverter == nil {
		return &fieldManagers{}, nil
	}
	r := cfg.Resource
	gv := r.GroupVersion()
	version := fieldpath.APIVersion(gv.String())
	var mainReset, statusReset map[fieldpath.APIVersion]*fieldpath.Set
	if r.Status != nil {
		// Applying to the main resource cannot set status, and applying to
		// status cannot set anything else, as Kubernetes' strategies say.
		mainReset = map[fieldpath.APIVersion]*fieldpath.Set{version: fieldpath.NewSet(fieldpath.MakePathOrDie("status"))}
		statusReset = map[fieldpath.APIVersion]*fieldpath.Set{version: fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "labels"),
			fieldpath.MakePathOrDie("metadata", "annotations"),
		)}
	}
	defaulter := defaulter{r}
	main, err := managedfields.NewDefaultFieldManager(cfg.TypeConverter, cfg.Scheme, defaulter, cfg.Scheme, r.GroupVersionKind(), gv, "", filters(mainReset))
	if err != nil {
		return nil, err
	}
	fm := &fieldManagers{main: main}
	if r.Status != nil {
		if fm.status, err = managedfields.NewDefaultFieldManager(cfg.TypeConverter, cfg.Scheme, defaulter, cfg.Scheme, r.GroupVersionKind(), gv, "status", filters(statusReset)); err != nil {
			return nil, err
		}
	}
	return fm, nil
}

// forSubresource returns the field manager of "" or "status"; nil when the
// resource has none.
func (f *fieldManagers) forSubresource(sub string) *managedfields.FieldManager {
	if sub == "status" {
		return f.status
	}
	return f.main
}

func filters(sets map[fieldpath.APIVersion]*fieldpath.Set) map[fieldpath.APIVersion]fieldpath.Filter {
	if sets == nil {
		return nil
	}
	out := map[fieldpath.APIVersion]fieldpath.Filter{}
	for v, s := range sets {
		out[v] = fieldpath.NewExcludeSetFilter(s)
	}
	return out
}

// defaulter applies a resource's defaults for the field manager.
type defaulter struct{ r *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.r.Default != nil {
		d.r.Default(obj)
	}
}
