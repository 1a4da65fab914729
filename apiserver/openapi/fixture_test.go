package openapi

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// testScheme is a fresh scheme with every built-in type client-go knows.
func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatalf("add to scheme: %v", err)
	}
	return s
}

func crud() []string {
	return []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
}

func res(group, version, kind, plural string, namespaced bool, subs ...Subresource) Resource {
	gv := schema.GroupVersion{Group: group, Version: version}
	return Resource{
		GVK: gv.WithKind(kind), ListGVK: gv.WithKind(kind + "List"), Resource: plural,
		Namespaced: namespaced, Verbs: crud(), Subresources: subs,
	}
}

func statusSub(group, version, kind string) Subresource {
	return Subresource{Name: "status", GVK: schema.GroupVersionKind{Group: group, Version: version, Kind: kind}, Verbs: []string{"get", "update", "patch"}}
}

func scaleSub() Subresource {
	return Subresource{Name: "scale", GVK: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, Verbs: []string{"get", "update", "patch"}}
}

// testResources is a representative set of the resources berth serves.
func testResources() []Resource {
	return []Resource{
		res("", "v1", "Pod", "pods", true, statusSub("", "v1", "Pod"),
			Subresource{Name: "binding", GVK: schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, Verbs: []string{"create"}},
			Subresource{Name: "eviction", GVK: schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, Verbs: []string{"create"}},
			Subresource{Name: "log", Verbs: []string{"get"}},
			Subresource{Name: "exec", GVK: schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, Verbs: []string{"get", "create"}},
			Subresource{Name: "ephemeralcontainers", GVK: schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, Verbs: []string{"get", "update", "patch"}}),
		res("", "v1", "Service", "services", true, statusSub("", "v1", "Service")),
		res("", "v1", "ConfigMap", "configmaps", true),
		res("", "v1", "Secret", "secrets", true),
		res("", "v1", "Namespace", "namespaces", false, statusSub("", "v1", "Namespace"),
			Subresource{Name: "finalize", GVK: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, Verbs: []string{"update"}}),
		res("", "v1", "Node", "nodes", false, statusSub("", "v1", "Node")),
		res("", "v1", "Event", "events", true),
		res("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, statusSub("", "v1", "PersistentVolumeClaim")),
		res("", "v1", "ServiceAccount", "serviceaccounts", true),
		res("apps", "v1", "Deployment", "deployments", true, statusSub("apps", "v1", "Deployment"), scaleSub()),
		res("apps", "v1", "ReplicaSet", "replicasets", true, statusSub("apps", "v1", "ReplicaSet"), scaleSub()),
		res("apps", "v1", "StatefulSet", "statefulsets", true, statusSub("apps", "v1", "StatefulSet"), scaleSub()),
		res("apps", "v1", "DaemonSet", "daemonsets", true, statusSub("apps", "v1", "DaemonSet")),
		res("batch", "v1", "Job", "jobs", true, statusSub("batch", "v1", "Job")),
		res("batch", "v1", "CronJob", "cronjobs", true, statusSub("batch", "v1", "CronJob")),
		res("coordination.k8s.io", "v1", "Lease", "leases", true),
		res("networking.k8s.io", "v1", "Ingress", "ingresses", true, statusSub("networking.k8s.io", "v1", "Ingress")),
		res("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
		res("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, statusSub("policy", "v1", "PodDisruptionBudget")),
		res("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, statusSub("autoscaling", "v2", "HorizontalPodAutoscaler")),
	}
}

// allResources is one resource for every listable kind in the scheme.
func allResources(s *runtime.Scheme) []Resource {
	var out []Resource
	for gvk := range s.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		list := gvk.GroupVersion().WithKind(gvk.Kind + "List")
		if !s.Recognizes(list) {
			continue
		}
		plural := strings.ToLower(gvk.Kind) + "s"
		out = append(out, Resource{GVK: gvk, ListGVK: list, Resource: plural, Namespaced: true, Verbs: crud()})
	}
	return out
}

// cronTabSchema is the schema a CustomResourceDefinition would bring.
func cronTabSchema() *spec.Schema {
	s := &spec.Schema{}
	s.Type = spec.StringOrArray{"object"}
	s.Description = "CronTab runs a command on a schedule."
	cron := spec.StringProperty()
	cron.Description = "The schedule, in cron format."
	spec1 := spec.Schema{}
	spec1.Type = spec.StringOrArray{"object"}
	spec1.Properties = map[string]spec.Schema{"cronSpec": *cron, "replicas": *spec.Int64Property()}
	// What only OpenAPI v3 can say, which /openapi/v2 must drop.
	port := spec.Schema{}
	port.AnyOf = []spec.Schema{*spec.Int64Property(), *spec.StringProperty()}
	port.AddExtension(extIntOrString, true)
	note := *spec.StringProperty()
	note.Nullable = true
	spec1.Properties["port"] = port
	spec1.Properties["note"] = note
	s.Properties = map[string]spec.Schema{"spec": spec1}
	return s
}
