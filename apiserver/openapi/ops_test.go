package openapi

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// opsByID indexes the operations of a model by operation id.
func opsByID(m *model) map[string]struct {
	path string
	op   operation
	item *pathItem
} {
	out := map[string]struct {
		path string
		op   operation
		item *pathItem
	}{}
	for _, items := range m.docs {
		for _, it := range items {
			for _, op := range it.ops {
				out[op.id] = struct {
					path string
					op   operation
					item *pathItem
				}{it.path, op, it}
			}
		}
	}
	return out
}

func TestOperations(t *testing.T) {
	ops := opsByID(testModel(t, true))
	cases := []struct {
		id, method, path, action string
		gvk                      schema.GroupVersionKind
	}{
		{"listAppsV1NamespacedDeployment", "get", "/apis/apps/v1/namespaces/{namespace}/deployments", "list", deploymentGVK},
		{"createAppsV1NamespacedDeployment", "post", "/apis/apps/v1/namespaces/{namespace}/deployments", "post", deploymentGVK},
		{"deleteAppsV1CollectionNamespacedDeployment", "delete", "/apis/apps/v1/namespaces/{namespace}/deployments", "deletecollection", deploymentGVK},
		{"readAppsV1NamespacedDeployment", "get", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "get", deploymentGVK},
		{"replaceAppsV1NamespacedDeployment", "put", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "put", deploymentGVK},
		{"patchAppsV1NamespacedDeployment", "patch", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch", deploymentGVK},
		{"deleteAppsV1NamespacedDeployment", "delete", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "delete", deploymentGVK},
		{"listAppsV1DeploymentForAllNamespaces", "get", "/apis/apps/v1/deployments", "list", deploymentGVK},
		{"watchAppsV1NamespacedDeploymentList", "get", "/apis/apps/v1/watch/namespaces/{namespace}/deployments", "watchlist", deploymentGVK},
		{"watchAppsV1NamespacedDeployment", "get", "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}", "watch", deploymentGVK},
		{"watchAppsV1DeploymentListForAllNamespaces", "get", "/apis/apps/v1/watch/deployments", "watchlist", deploymentGVK},
		{"patchAppsV1NamespacedDeploymentStatus", "patch", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "patch", deploymentGVK},
		{"replaceAppsV1NamespacedDeploymentScale", "put", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put",
			schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}},
		{"createCoreV1NamespacedPodBinding", "post", "/api/v1/namespaces/{namespace}/pods/{name}/binding", "post",
			schema.GroupVersionKind{Version: "v1", Kind: "Binding"}},
		{"createCoreV1NamespacedPodEviction", "post", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post",
			schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}},
		{"readCoreV1NamespacedPodLog", "get", "/api/v1/namespaces/{namespace}/pods/{name}/log", "get", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
		{"connectCoreV1PostNamespacedPodExec", "post", "/api/v1/namespaces/{namespace}/pods/{name}/exec", "connect",
			schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}},
		{"readCoreV1Node", "get", "/api/v1/nodes/{name}", "get", schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
		{"watchCoreV1NodeList", "get", "/api/v1/watch/nodes", "watchlist", schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
		{"replaceCoreV1NamespaceFinalize", "put", "/api/v1/namespaces/{name}/finalize", "put", schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}},
		{"listRbacAuthorizationV1ClusterRole", "get", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "list",
			schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}},
	}
	for _, c := range cases {
		got, ok := ops[c.id]
		if !ok {
			t.Errorf("no operation %s", c.id)
			continue
		}
		if got.op.method != c.method || got.path != c.path || got.op.action != c.action || got.op.gvk == nil || *got.op.gvk != c.gvk {
			t.Errorf("%s: %s %s action %s gvk %v; want %s %s action %s gvk %v", c.id, got.op.method, got.path, got.op.action, got.op.gvk,
				c.method, c.path, c.action, c.gvk)
		}
	}
	for _, absent := range []string{"listCoreV1NodeForAllNamespaces", "listAppsV1NamespacedDeploymentForAllNamespaces"} {
		if _, ok := ops[absent]; ok {
			t.Errorf("unexpected operation %s", absent)
		}
	}
	node := ops["readCoreV1Node"].item
	for _, p := range node.params {
		if p.name == "namespace" {
			t.Error("a cluster-scoped path has a namespace parameter")
		}
	}
	// Every write operation lets the client choose how unknown fields are
	// handled, and every patch takes the four patch types.
	for id, o := range ops {
		if o.op.action == "post" || o.op.action == "put" || o.op.action == "patch" {
			if !hasParam(o.op.params, "fieldValidation") || !hasParam(o.op.params, "dryRun") || !hasParam(o.op.params, "fieldManager") {
				t.Errorf("%s lacks dryRun, fieldManager or fieldValidation", id)
			}
		}
		if o.op.action == "patch" && (!hasParam(o.op.params, "force") || len(o.op.consumes) != 4) {
			t.Errorf("%s: params %v, consumes %v", id, o.op.params, o.op.consumes)
		}
		if o.op.action == "list" && !hasParam(o.op.params, "labelSelector") && !hasParam(o.item.params, "labelSelector") {
			t.Errorf("%s has no labelSelector", id)
		}
		if o.op.action == "delete" && !hasParam(o.op.params, "propagationPolicy") {
			t.Errorf("%s has no propagationPolicy", id)
		}
	}
}

func hasParam(params []param, name string) bool {
	for _, p := range params {
		if p.name == name {
			return true
		}
	}
	return false
}

func TestVerbsAreHonoured(t *testing.T) {
	r := Resource{GVK: schema.GroupVersionKind{Version: "v1", Kind: "ComponentStatus"}, ListGVK: schema.GroupVersionKind{Version: "v1", Kind: "ComponentStatusList"},
		Resource: "componentstatuses", Verbs: []string{"get", "list"}}
	items := resourcePaths(&r, resourceDefs{kind: "k", list: "l", status: "s", deleteOptions: "d", watchEvent: "w", patch: "p"})
	var methods []string
	for _, it := range items {
		for _, op := range it.ops {
			methods = append(methods, op.method+" "+it.path)
		}
	}
	want := "get /api/v1/componentstatuses,get /api/v1/componentstatuses/{name}"
	if strings.Join(methods, ",") != want {
		t.Errorf("operations %v, want %s", methods, want)
	}
}

func TestGroupName(t *testing.T) {
	cases := map[string]string{
		"":                             "Core",
		"apps":                         "Apps",
		"rbac.authorization.k8s.io":    "RbacAuthorization",
		"flowcontrol.apiserver.k8s.io": "FlowcontrolApiserver",
		"stable.example.com":           "StableExampleCom",
		"cert-manager.io":              "CertManagerIo",
	}
	for group, want := range cases {
		if got := groupName(group); got != want {
			t.Errorf("groupName(%q) = %q, want %q", group, got, want)
		}
	}
	if n := newNamer(schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}); n.tag != "rbacAuthorization_v1" || n.gv != "RbacAuthorizationV1" {
		t.Errorf("namer %+v", n)
	}
}
