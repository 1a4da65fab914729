package openapi

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Resource describes one served resource for the documents.
type Resource struct {
	GVK        schema.GroupVersionKind // e.g. apps/v1 Deployment
	ListGVK    schema.GroupVersionKind // apps/v1 DeploymentList
	Resource   string                  // plural: "deployments"
	Namespaced bool
	// Verbs are those of get, list, watch, create, update, patch, delete and
	// deletecollection that the resource supports.
	Verbs        []string
	Subresources []Subresource

	// Schema, if set, is the OpenAPI v3 schema of the kind (as a
	// CustomResourceDefinition carries it: self-contained, no $ref). It is
	// used instead of reflecting over a Go type registered in the scheme;
	// the list kind is then derived from it.
	Schema *spec.Schema
}

// Subresource describes a subresource of a Resource.
type Subresource struct {
	Name string // "status", "scale", "binding", "eviction", "log", ...
	// GVK is the kind of the body: apps/v1 Deployment for status,
	// autoscaling/v1 Scale for scale, v1 Binding, policy/v1 Eviction. For
	// the connect subresources (exec, attach, portforward, proxy) it is the
	// options kind (v1 PodExecOptions, ...). It is ignored for log, whose
	// body is plain text.
	GVK schema.GroupVersionKind
	// Verbs are those of get, update, patch and create that the
	// subresource supports.
	Verbs []string
}

func (r *Resource) has(verb string) bool { return contains(r.Verbs, verb) }

func (s *Subresource) has(verb string) bool { return contains(s.Verbs, verb) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// gvPath is the path of a group version below /openapi/v3 and the API
// root: "api/v1" for the core group, "apis/apps/v1" for the others.
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}
