package server

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"berth/apiserver"
	"berth/apiserver/openapi"
	"berth/apiserver/registry/generic"
)

type typeConv = managedfields.TypeConverter

// typeConverter maps the built-in types onto structured-merge-diff schemas
// for server-side apply, from the schema client-go carries.
func typeConverter(scheme *runtime.Scheme) (typeConv, error) {
	return applyconfigurations.NewTypeConverter(scheme), nil
}

// openapiResources describes the served resources to the OpenAPI builder.
func openapiResources(resources *apiserver.Resources) func() []openapi.Resource {
	return func() []openapi.Resource {
		var out []openapi.Resource
		for _, st := range resources.All() {
			r := st.Resource()
			or := openapi.Resource{
				GVK:        r.GroupVersionKind(),
				ListGVK:    r.GroupVersion().WithKind(r.ListKind),
				Resource:   r.Resource,
				Namespaced: r.Namespaced,
				Verbs:      r.Verbs(),
			}
			if r.Status != nil {
				or.Subresources = append(or.Subresources, openapi.Subresource{Name: "status", GVK: r.GroupVersionKind(), Verbs: []string{"get", "update", "patch"}})
			}
			if r.Scale != nil {
				or.Subresources = append(or.Subresources, openapi.Subresource{Name: "scale", GVK: generic.ScaleKind(), Verbs: []string{"get", "update", "patch"}})
			}
			for _, x := range r.Extra {
				or.Subresources = append(or.Subresources, openapi.Subresource{Name: x.Name, GVK: x.Kind, Verbs: x.Verbs})
			}
			out = append(out, or)
		}
		return out
	}
}
