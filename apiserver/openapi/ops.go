package openapi

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// operation is one HTTP method on a path, in a form both documents render.
type operation struct {
	method       string // get, put, post, patch or delete
	id           string
	desc         string
	action       string // x-kubernetes-action; empty for discovery
	gvk          *schema.GroupVersionKind
	tag          string
	params       []param
	body         string // definition name of the request body; empty for none
	bodyRequired bool
	consumes     []string // request content types
	responses    []response
	produces     []string // response content types
}

// response is one status code of an operation. def is the definition of
// its body; empty means a plain string, and no body for 401.
type response struct {
	code int
	def  string
}

// pathItem is a path with the parameters all its operations share.
type pathItem struct {
	path   string
	params []param
	ops    []operation
}

// Content types of requests and responses.
const (
	mimeJSON     = "application/json"
	mimeYAML     = "application/yaml"
	mimeProtobuf = "application/vnd.kubernetes.protobuf"
)

func objectMimes() []string { return []string{mimeJSON, mimeYAML, mimeProtobuf} }

func streamMimes() []string {
	return []string{mimeJSON, mimeYAML, mimeProtobuf, mimeJSON + ";stream=watch", mimeProtobuf + ";stream=watch"}
}

func patchMimes(strategic bool) []string {
	m := []string{"application/json-patch+json", "application/merge-patch+json"}
	if strategic {
		m = append(m, "application/strategic-merge-patch+json")
	}
	return append(m, "application/apply-patch+yaml")
}

// namer builds operation ids and tags for one group version the way
// Kubernetes does: verb + group + version + scope + kind + suffix, e.g.
// readAppsV1NamespacedDeploymentStatus or listCoreV1PodForAllNamespaces.
type namer struct {
	gv  string // "AppsV1", "CoreV1", "RbacAuthorizationV1"
	tag string // "apps_v1", "core_v1", "rbacAuthorization_v1"
}

func newNamer(gv schema.GroupVersion) namer {
	g := groupName(gv.Group)
	v := upperFirst(gv.Version)
	return namer{gv: g + v, tag: lowerFirst(g) + "_" + gv.Version}
}

// groupName is the CamelCase name of an API group in operation ids: ""
// is Core, the .k8s.io suffix is dropped, dots and dashes split words.
func groupName(group string) string {
	if group == "" {
		return "Core"
	}
	group = strings.TrimSuffix(group, ".k8s.io")
	var b strings.Builder
	for _, w := range strings.FieldsFunc(group, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(upperFirst(w))
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// resourceDefs are the definitions a resource's operations refer to.
type resourceDefs struct {
	kind, list    string
	deleteOptions string
	status        string
	watchEvent    string
	patch         string
	sub           map[string]string // subresource name to body definition
}

// resourcePaths lays out the paths and operations of one resource as
// Kubernetes does.
func resourcePaths(r *Resource, d resourceDefs) []*pathItem {
	gv := r.GVK.GroupVersion()
	n := newNamer(gv)
	kind := r.GVK.Kind
	gvk := r.GVK
	prefix := "/" + gvPath(gv)
	scope := ""
	base := prefix
	scopeParams := []param{}
	if r.Namespaced {
		scope = "Namespaced"
		base = prefix + "/namespaces/{namespace}"
		scopeParams = []param{namespaceParam()}
	}
	op := func(method, verb, suffix, desc, action string) operation {
		return operation{method: method, id: verb + n.gv + scope + kind + suffix, desc: desc, action: action, gvk: &gvk, tag: n.tag}
	}
	var items []*pathItem
	add := func(path string, params []param, ops ...operation) {
		if len(ops) > 0 {
			items = append(items, &pathItem{path: path, params: params, ops: ops})
		}
	}

	// The collection.
	var coll []operation
	if r.has("list") {
		o := op("get", "list", "", "list or watch objects of kind "+kind, "list")
		o.params = listParams()
		o.responses = ok(d.list)
		o.produces = streamMimes()
		coll = append(coll, o)
	}
	if r.has("create") {
		o := op("post", "create", "", "create a "+kind, "post")
		o.params = writeParams()
		o.body, o.bodyRequired, o.consumes = d.kind, true, []string{"*/*"}
		o.responses = created(d.kind, true)
		o.produces = objectMimes()
		coll = append(coll, o)
	}
	if r.has("deletecollection") {
		o := op("delete", "delete", "", "delete collection of "+kind, "deletecollection")
		o.id = "delete" + n.gv + "Collection" + scope + kind
		o.params = deleteCollectionParams()
		o.body, o.consumes = d.deleteOptions, []string{"*/*"}
		o.responses = ok(d.status)
		o.produces = objectMimes()
		coll = append(coll, o)
	}
	add(base+"/"+r.Resource, append(scopeParams[:len(scopeParams):len(scopeParams)], prettyParam()), coll...)

	// One object.
	itemPath := base + "/" + r.Resource + "/{name}"
	itemParams := append([]param{nameParam(kind)}, scopeParams...)
	itemParams = append(itemParams, prettyParam())
	var one []operation
	if r.has("get") {
		o := op("get", "read", "", "read the specified "+kind, "get")
		o.responses = ok(d.kind)
		o.produces = objectMimes()
		one = append(one, o)
	}
	if r.has("update") {
		o := op("put", "replace", "", "replace the specified "+kind, "put")
		o.params = writeParams()
		o.body, o.bodyRequired, o.consumes = d.kind, true, []string{"*/*"}
		o.responses = created(d.kind, false)
		o.produces = objectMimes()
		one = append(one, o)
	}
	if r.has("patch") {
		o := op("patch", "patch", "", "partially update the specified "+kind, "patch")
		o.params = patchParams()
		o.body, o.bodyRequired, o.consumes = d.patch, true, patchMimes(r.Schema == nil)
		o.responses = created(d.kind, false)
		o.produces = objectMimes()
		one = append(one, o)
	}
	if r.has("delete") {
		o := op("delete", "delete", "", "delete a "+kind, "delete")
		o.params = deleteParams()
		o.body, o.consumes = d.deleteOptions, []string{"*/*"}
		o.responses = []response{{200, d.status}, {202, d.status}, {401, ""}}
		o.produces = objectMimes()
		one = append(one, o)
	}
	add(itemPath, itemParams, one...)

	// Lists across all namespaces.
	if r.Namespaced && r.has("list") {
		o := operation{method: "get", id: "list" + n.gv + kind + "ForAllNamespaces", desc: "list or watch objects of kind " + kind,
			action: "list", gvk: &gvk, tag: n.tag, responses: ok(d.list), produces: streamMimes()}
		add(prefix+"/"+r.Resource, append(listParams(), prettyParam()), o)
	}

	// The deprecated watch paths.
	if r.has("watch") {
		watchBase := prefix + "/watch"
		if r.Namespaced {
			watchBase += "/namespaces/{namespace}"
		}
		list := op("get", "watch", "List", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead.", "watchlist")
		list.responses, list.produces = ok(d.watchEvent), streamMimes()
		add(watchBase+"/"+r.Resource, append(append(listParams(), scopeParams...), prettyParam()), list)
		one := op("get", "watch", "", "watch changes to an object of kind "+kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.", "watch")
		one.responses, one.produces = ok(d.watchEvent), streamMimes()
		add(watchBase+"/"+r.Resource+"/{name}", append(append(append(listParams(), nameParam(kind)), scopeParams...), prettyParam()), one)
		if r.Namespaced {
			all := operation{method: "get", id: "watch" + n.gv + kind + "ListForAllNamespaces", desc: list.desc, action: "watchlist",
				gvk: &gvk, tag: n.tag, responses: ok(d.watchEvent), produces: streamMimes()}
			add(prefix+"/watch/"+r.Resource, append(listParams(), prettyParam()), all)
		}
	}

	for i := range r.Subresources {
		sub := &r.Subresources[i]
		body := d.sub[sub.Name]
		subKind := sub.GVK
		if subKind.Kind == "" {
			subKind = r.GVK
		}
		title := upperFirst(sub.Name)
		subOp := func(method, verb, desc, action string) operation {
			o := op(method, verb, title, desc, action)
			o.gvk = &subKind
			return o
		}
		params := append([]param{nameParam(subKind.Kind)}, scopeParams...)
		params = append(params, prettyParam())
		var ops []operation
		switch {
		case sub.Name == "log":
			o := subOp("get", "read", "read log of the specified "+kind, "get")
			o.params = logParams()
			o.responses = ok("")
			o.produces = []string{"text/plain", mimeJSON, mimeYAML, mimeProtobuf}
			ops = append(ops, o)
		case isConnect(sub.Name):
			for _, m := range []struct{ verb, method string }{{"get", "get"}, {"create", "post"}, {"update", "put"}, {"patch", "patch"}, {"delete", "delete"}} {
				if !sub.has(m.verb) {
					continue
				}
				o := subOp(m.method, "connect", "connect "+upperFirst(m.method)+" requests to "+sub.Name+" of "+kind, "connect")
				o.id = "connect" + n.gv + upperFirst(m.method) + scope + kind + title
				o.params = connectParams(sub.Name)
				o.responses = ok("")
				o.produces = []string{"*/*"}
				o.consumes = []string{"*/*"}
				ops = append(ops, o)
			}
			params = append([]param{pathParam("name", "name of the "+subKind.Kind)}, scopeParams...)
		default:
			if sub.has("get") {
				o := subOp("get", "read", "read "+sub.Name+" of the specified "+kind, "get")
				o.responses, o.produces = ok(body), objectMimes()
				ops = append(ops, o)
			}
			if sub.has("create") {
				o := subOp("post", "create", "create "+sub.Name+" of a "+kind, "post")
				o.params = writeParams()
				o.body, o.bodyRequired, o.consumes = body, true, []string{"*/*"}
				o.responses, o.produces = created(body, true), objectMimes()
				ops = append(ops, o)
			}
			if sub.has("update") {
				o := subOp("put", "replace", "replace "+sub.Name+" of the specified "+kind, "put")
				o.params = writeParams()
				o.body, o.bodyRequired, o.consumes = body, true, []string{"*/*"}
				o.responses, o.produces = created(body, false), objectMimes()
				ops = append(ops, o)
			}
			if sub.has("patch") {
				o := subOp("patch", "patch", "partially update "+sub.Name+" of the specified "+kind, "patch")
				o.params = patchParams()
				o.body, o.bodyRequired, o.consumes = d.patch, true, patchMimes(r.Schema == nil)
				o.responses, o.produces = created(body, false), objectMimes()
				ops = append(ops, o)
			}
		}
		add(itemPath+"/"+sub.Name, params, ops...)
	}
	return items
}

func ok(def string) []response { return []response{{200, def}, {401, ""}} }

func created(def string, accepted bool) []response {
	r := []response{{200, def}, {201, def}}
	if accepted {
		r = append(r, response{202, def})
	}
	return append(r, response{401, ""})
}

// Discovery operations, each in the document of its own path.

func apiResourcesPath(gv schema.GroupVersion, def string) *pathItem {
	n := newNamer(gv)
	return &pathItem{path: "/" + gvPath(gv) + "/", ops: []operation{{
		method: "get", id: "get" + n.gv + "APIResources", desc: "get available resources", tag: n.tag,
		responses: ok(def), produces: objectMimes(),
	}}}
}

func discoveryPath(path, id, desc, tag, def string) *pathItem {
	return &pathItem{path: path, ops: []operation{{
		method: "get", id: id, desc: desc, tag: tag, responses: ok(def), produces: objectMimes(),
	}}}
}
