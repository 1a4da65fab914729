package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/apiserver/registry"
	"berth/apiserver/registry/generic"
)

// Media types of aggregated discovery.
const (
	aggregatedV2      = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	aggregatedV2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)

// subresourceVerbs are the verbs of status and scale.
var subresourceVerbs = []string{"get", "patch", "update"}

// groupVersions returns the served group versions in order, core first,
// each with its resources.
func groupVersions(stores []*generic.Store) (order []schema.GroupVersion, byGV map[schema.GroupVersion][]*registry.Resource) {
	byGV = map[schema.GroupVersion][]*registry.Resource{}
	for _, s := range stores {
		r := s.Resource()
		gv := r.GroupVersion()
		if _, ok := byGV[gv]; !ok {
			order = append(order, gv)
		}
		byGV[gv] = append(byGV[gv], r)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].Group == "" && order[j].Group != "" })
	return order, byGV
}

// apiResources lists a group version's resources and subresources, as the
// legacy discovery document does.
func apiResources(res []*registry.Resource) []metav1.APIResource {
	var out []metav1.APIResource
	for _, r := range res {
		out = append(out, metav1.APIResource{
			Name: r.Resource, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: r.Verbs(), ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range subresources(r) {
			out = append(out, metav1.APIResource{
				Name: r.Resource + "/" + sub.name, Namespaced: r.Namespaced,
				Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind, Verbs: sub.verbs,
			})
		}
	}
	return out
}

type subresourceInfo struct {
	name  string
	kind  schema.GroupVersionKind
	verbs []string
}

func subresources(r *registry.Resource) []subresourceInfo {
	var out []subresourceInfo
	if r.Status != nil {
		out = append(out, subresourceInfo{"status", r.GroupVersionKind(), subresourceVerbs})
	}
	if r.Scale != nil {
		out = append(out, subresourceInfo{"scale", generic.ScaleKind(), subresourceVerbs})
	}
	for _, x := range r.Extra {
		out = append(out, subresourceInfo{x.Name, x.Kind, x.Verbs})
	}
	return out
}

// serveDiscovery answers /api, /api/v1, /apis, /apis/GROUP and
// /apis/GROUP/VERSION. It reports false for other paths.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, parts []string) bool {
	order, byGV := groupVersions(s.cfg.Resources.All())
	legacy := parts[0] == "api"
	switch {
	case len(parts) == 1 && legacy:
		if s.serveAggregated(w, r, order, byGV, true) {
			return true
		}
		s.writeJSON(w, r, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{
				ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.AdvertiseAddress,
			}},
		})
	case len(parts) == 1:
		if s.serveAggregated(w, r, order, byGV, false) {
			return true
		}
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range groups(order) {
			list.Groups = append(list.Groups, g)
		}
		s.writeJSON(w, r, http.StatusOK, list)
	case len(parts) == 2 && legacy:
		res, ok := byGV[schema.GroupVersion{Version: parts[1]}]
		if !ok {
			return false
		}
		s.writeJSON(w, r, http.StatusOK, &metav1.APIResourceList{
			TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1", APIResources: apiResources(res),
		})
	case len(parts) == 2:
		for _, g := range groups(order) {
			if g.Name == parts[1] {
				g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				s.writeJSON(w, r, http.StatusOK, &g)
				return true
			}
		}
		return false
	case len(parts) == 3 && !legacy:
		gv := schema.GroupVersion{Group: parts[1], Version: parts[2]}
		res, ok := byGV[gv]
		if !ok {
			return false
		}
		s.writeJSON(w, r, http.StatusOK, &metav1.APIResourceList{
			TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String(), APIResources: apiResources(res),
		})
	default:
		return false
	}
	return true
}

// groups lists the named groups, each with its versions, preferred first.
func groups(order []schema.GroupVersion) []metav1.APIGroup {
	var out []metav1.APIGroup
	index := map[string]int{}
	for _, gv := range order {
		if gv.Group == "" {
			continue
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		i, ok := index[gv.Group]
		if !ok {
			index[gv.Group] = len(out)
			out = append(out, metav1.APIGroup{Name: gv.Group, PreferredVersion: v})
			i = len(out) - 1
		}
		out[i].Versions = append(out[i].Versions, v)
	}
	return out
}

// serveAggregated answers with the aggregated discovery document when the
// client accepts it (kubectl 1.26 and later ask for it).
func (s *Server) serveAggregated(w http.ResponseWriter, r *http.Request, order []schema.GroupVersion, byGV map[schema.GroupVersion][]*registry.Resource, legacy bool) bool {
	version := ""
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		if m.typ == mediaJSON && m.params["g"] == "apidiscovery.k8s.io" && m.params["as"] == "APIGroupDiscoveryList" {
			if v := m.params["v"]; v == "v2" || v == "v2beta1" {
				version = v
				break
			}
		}
	}
	if version == "" {
		return false
	}
	doc := aggregated(order, byGV, legacy)
	var body []byte
	var err error
	ct := aggregatedV2
	if version == "v2" {
		doc.TypeMeta = metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}
		body, err = json.Marshal(doc)
	} else {
		ct = aggregatedV2beta1
		body, err = json.Marshal(toV2beta1(doc))
	}
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Vary", "Accept")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	s.writeBytes(w, r, http.StatusOK, ct, body)
	return true
}

func aggregated(order []schema.GroupVersion, byGV map[schema.GroupVersion][]*registry.Resource, legacy bool) *apidiscoveryv2.APIGroupDiscoveryList {
	doc := &apidiscoveryv2.APIGroupDiscoveryList{}
	index := map[string]int{}
	for _, gv := range order {
		if (gv.Group == "") != legacy {
			continue
		}
		i, ok := index[gv.Group]
		if !ok {
			index[gv.Group] = len(doc.Items)
			doc.Items = append(doc.Items, apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}})
			i = len(doc.Items) - 1
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range byGV[gv] {
			scope := apidiscoveryv2.ScopeCluster
			if r.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			d := apidiscoveryv2.APIResourceDiscovery{
				Resource:         r.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
				Scope:            scope,
				SingularResource: r.Singular,
				Verbs:            r.Verbs(),
				ShortNames:       r.ShortNames,
				Categories:       r.Categories,
			}
			for _, sub := range subresources(r) {
				d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource:  sub.name,
					ResponseKind: &metav1.GroupVersionKind{Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind},
					Verbs:        sub.verbs,
				})
			}
			v.Resources = append(v.Resources, d)
		}
		doc.Items[i].Versions = append(doc.Items[i].Versions, v)
	}
	return doc
}

// toV2beta1 converts the document for clients that ask for v2beta1
// (kubectl 1.26 to 1.29). The two versions have the same fields.
func toV2beta1(in *apidiscoveryv2.APIGroupDiscoveryList) *apidiscoveryv2beta1.APIGroupDiscoveryList {
	data, _ := json.Marshal(in)
	out := &apidiscoveryv2beta1.APIGroupDiscoveryList{}
	_ = json.Unmarshal(data, out)
	out.TypeMeta = metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2beta1"}
	return out
}

// writeJSON writes a document as JSON.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeBytes(w, r, code, mediaJSON, body)
}
