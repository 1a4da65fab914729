package ingress

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

const (
	// legacyClassAnnotation is the class annotation of Ingresses from
	// before spec.ingressClassName.
	legacyClassAnnotation = "kubernetes.io/ingress.class"
	// defaultClassAnnotation marks the cluster's default IngressClass.
	defaultClassAnnotation = networkingv1.AnnotationIsDefaultIngressClass
)

// refs are the Services and Secrets ("namespace/name") the current
// Ingresses refer to: changes to others do not rebuild the table.
type refs struct {
	services map[string]struct{}
	secrets  map[string]struct{}
}

// builder builds routing tables from the informers' caches. It is used by
// one goroutine at a time.
type builder struct {
	className  string
	controller string

	ingresses   networkinglisters.IngressLister
	classLister networkinglisters.IngressClassLister
	services    corelisters.ServiceLister
	slices      discoverylisters.EndpointSliceLister
	secrets     corelisters.SecretLister

	// certs caches parsed key pairs by Secret "namespace/name".
	certs map[string]cachedCert
}

type cachedCert struct {
	resourceVersion string
	cert            *tls.Certificate
	err             error
}

// Classes tells which Ingresses belong to an ingress controller. The
// ingress status controller of the control plane decides with it too, so
// that the two always agree.
type Classes struct {
	// names are the IngressClass names served: the controller's class
	// name and every IngressClass whose spec.controller is the
	// controller's.
	names map[string]bool
	// isDefault is set when one of them is the cluster's default class,
	// so that Ingresses without a class are served too.
	isDefault bool
}

// ClassesOf is what the controller named controller, with the class
// className, serves given the cluster's IngressClasses.
func ClassesOf(list []*networkingv1.IngressClass, className, controller string) Classes {
	c := Classes{names: map[string]bool{className: true}}
	for _, ic := range list {
		if ic.Spec.Controller == controller {
			c.names[ic.Name] = true
		}
	}
	for _, ic := range list {
		if c.names[ic.Name] && ic.Annotations[defaultClassAnnotation] == "true" {
			c.isDefault = true
		}
	}
	return c
}

// Owns reports whether the Ingress is served: the legacy annotation if
// set, else spec.ingressClassName, else whether a served class is the
// default.
func (c Classes) Owns(ing *networkingv1.Ingress) bool {
	if name, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return c.names[name]
	}
	if ing.Spec.IngressClassName != nil {
		return c.names[*ing.Spec.IngressClassName]
	}
	return c.isDefault
}

func (b *builder) classes() (Classes, error) {
	list, err := b.classLister.List(labels.Everything())
	if err != nil {
		return Classes{}, fmt.Errorf("list ingress classes: %w", err)
	}
	return ClassesOf(list, b.className, b.controller), nil
}

// build makes a table from the caches. publishRefs is called with the
// Services and Secrets the Ingresses refer to before they are read, so
// that no change to them between the two can be missed. prev, if not nil,
// hands round-robin positions over. The warnings say what could not be
// served as asked.
func (b *builder) build(prev *table, publishRefs func(*refs)) (*table, []string, error) {
	cls, err := b.classes()
	if err != nil {
		return nil, nil, err
	}
	all, err := b.ingresses.List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("list ingresses: %w", err)
	}
	var ings []*networkingv1.Ingress
	for _, ing := range all {
		if ing.DeletionTimestamp == nil && cls.Owns(ing) {
			ings = append(ings, ing)
		}
	}
	// Oldest first: on conflicts the oldest Ingress wins.
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	used := references(ings)
	publishRefs(used)
	for key := range b.certs {
		if _, ok := used.secrets[key]; !ok {
			delete(b.certs, key)
		}
	}

	t := &table{
		exact:    map[string]*hostRoutes{},
		wildcard: map[string]*hostRoutes{},
		certs:    map[string]*tls.Certificate{},
		backends: map[string]*backend{},
	}
	w := &warnings{}
	seen := map[string]bool{}
	for _, ing := range ings {
		id := ing.Namespace + "/" + ing.Name
		if d := ing.Spec.DefaultBackend; d != nil && t.def == nil {
			t.def = b.backend(t, prev, ing.Namespace, d, w, id)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			host := strings.ToLower(rule.Host)
			for _, p := range rule.HTTP.Paths {
				r := newRoute(p, id)
				// Conflicts: same host, type and (for Prefix, trailing
				// slashes aside) path.
				key := host + "\x00P" + r.prefix
				if r.exact {
					key = host + "\x00E" + r.path
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				r.backend = b.backend(t, prev, ing.Namespace, &p.Backend, w, id)
				t.hostRoutes(host).routes = append(t.hostRoutes(host).routes, r)
			}
		}
		b.addCerts(t, ing, w, id)
	}
	for _, hr := range t.allHostRoutes() {
		sort.SliceStable(hr.routes, func(i, j int) bool {
			li, lj := hr.routes[i].length(), hr.routes[j].length()
			if li != lj {
				return li > lj
			}
			return hr.routes[i].exact && !hr.routes[j].exact
		})
	}
	return t, w.list, nil
}

// references collects the Services and Secrets the Ingresses use.
func references(ings []*networkingv1.Ingress) *refs {
	r := &refs{services: map[string]struct{}{}, secrets: map[string]struct{}{}}
	add := func(ns string, be *networkingv1.IngressBackend) {
		if be != nil && be.Service != nil {
			r.services[ns+"/"+be.Service.Name] = struct{}{}
		}
	}
	for _, ing := range ings {
		add(ing.Namespace, ing.Spec.DefaultBackend)
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for i := range rule.HTTP.Paths {
				add(ing.Namespace, &rule.HTTP.Paths[i].Backend)
			}
		}
		for _, t := range ing.Spec.TLS {
			if t.SecretName != "" {
				r.secrets[ing.Namespace+"/"+t.SecretName] = struct{}{}
			}
		}
	}
	return r
}

// newRoute makes the route of a path (without backend). Paths of type
// ImplementationSpecific are matched as Prefix.
func newRoute(p networkingv1.HTTPIngressPath, ingress string) route {
	path := p.Path
	if path == "" {
		path = "/"
	}
	exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
	return route{path: path, prefix: strings.TrimRight(path, "/"), exact: exact, ingress: ingress}
}

func (t *table) hostRoutes(host string) *hostRoutes {
	var m map[string]*hostRoutes
	switch {
	case host == "":
		if t.any == nil {
			t.any = &hostRoutes{}
		}
		return t.any
	case strings.HasPrefix(host, "*."):
		m, host = t.wildcard, host[2:]
	default:
		m = t.exact
	}
	hr := m[host]
	if hr == nil {
		hr = &hostRoutes{}
		m[host] = hr
	}
	return hr
}

func (t *table) allHostRoutes() []*hostRoutes {
	var out []*hostRoutes
	for _, hr := range t.exact {
		out = append(out, hr)
	}
	for _, hr := range t.wildcard {
		out = append(out, hr)
	}
	if t.any != nil {
		out = append(out, t.any)
	}
	return out
}

// warnings collects the problems found while building, each once.
type warnings struct {
	list []string
	seen map[string]bool
}

func (w *warnings) add(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if w.seen[msg] {
		return
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[msg] = true
	w.list = append(w.list, msg)
}

// backend resolves an Ingress backend in namespace ns: the Service port
// (by number or name), then the EndpointSlice port of the same name, then
// the ready endpoints. Backends are shared within a table.
func (b *builder) backend(t *table, prev *table, ns string, ib *networkingv1.IngressBackend, w *warnings, ing string) *backend {
	if ib.Service == nil {
		key := "resource:" + ns + "/" + ing
		if be := t.backends[key]; be != nil {
			return be
		}
		be := &backend{key: key, status: http.StatusServiceUnavailable, reason: "resource backends are not supported"}
		w.add("ingress %s: resource backends are not supported", ing)
		t.backends[key] = be
		return be
	}
	svcName := ib.Service.Name
	port := ib.Service.Port.Name
	if port == "" {
		port = strconv.Itoa(int(ib.Service.Port.Number))
	}
	key := ns + "/" + svcName + ":" + port
	if be := t.backends[key]; be != nil {
		return be
	}
	be := b.resolve(key, ns, svcName, ib.Service.Port, w, ing)
	be.down = make([]atomic.Int64, len(be.endpoints))
	var old *backend
	if prev != nil {
		old = prev.backends[key]
	}
	be.inherit(old)
	t.backends[key] = be
	return be
}

func (b *builder) resolve(key, ns, name string, port networkingv1.ServiceBackendPort, w *warnings, ing string) *backend {
	unavailable := func(reason string) *backend {
		w.add("ingress %s: backend %s: %s", ing, key, reason)
		return &backend{key: key, status: http.StatusServiceUnavailable, reason: reason}
	}
	svc, err := b.services.Services(ns).Get(name)
	if err != nil {
		return unavailable("service not found")
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return unavailable("ExternalName services are not supported")
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (port.Name != "" && p.Name == port.Name) || (port.Name == "" && p.Port == port.Number) {
			sp = p
			break
		}
	}
	if sp == nil {
		return unavailable("service has no such port")
	}
	if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
		return unavailable("service port is not TCP")
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	list, err := b.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return unavailable(fmt.Sprintf("list endpoint slices: %v", err))
	}
	be := &backend{key: key}
	seen := map[string]bool{}
	for _, s := range list {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		num := int32(-1)
		for _, p := range s.Ports {
			pname := ""
			if p.Name != nil {
				pname = *p.Name
			}
			if pname == sp.Name && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				num = *p.Port
				break
			}
		}
		if num < 0 {
			continue
		}
		ps := strconv.Itoa(int(num))
		for _, ep := range s.Endpoints {
			if !endpointReady(ep) || len(ep.Addresses) == 0 {
				continue
			}
			addr := net.JoinHostPort(ep.Addresses[0], ps)
			if !seen[addr] {
				seen[addr] = true
				be.endpoints = append(be.endpoints, addr)
			}
		}
	}
	slices.Sort(be.endpoints)
	if len(be.endpoints) == 0 {
		be.status, be.reason = http.StatusServiceUnavailable, "no ready endpoints"
	}
	return be
}

// endpointReady: ready (unset counts as ready, as the API says consumers
// should take it) and not terminating — terminating endpoints get no new
// requests.
func endpointReady(ep discoveryv1.Endpoint) bool {
	c := ep.Conditions
	if c.Terminating != nil && *c.Terminating {
		return false
	}
	return c.Ready == nil || *c.Ready
}

// addCerts adds the certificates of the Ingress's spec.tls for its hosts
// (those of the certificate itself when the entry names none); hosts that
// already have one keep it (older Ingresses win).
func (b *builder) addCerts(t *table, ing *networkingv1.Ingress, w *warnings, id string) {
	for _, entry := range ing.Spec.TLS {
		if entry.SecretName == "" {
			continue
		}
		cert, err := b.cert(ing.Namespace, entry.SecretName)
		if err != nil {
			w.add("ingress %s: tls secret %s: %v", id, entry.SecretName, err)
			continue
		}
		hosts := entry.Hosts
		if len(hosts) == 0 && cert.Leaf != nil {
			hosts = cert.Leaf.DNSNames
		}
		for _, h := range hosts {
			h = strings.ToLower(h)
			if _, ok := t.certs[h]; !ok && h != "" {
				t.certs[h] = cert
			}
		}
	}
}

// cert returns the parsed key pair of a Secret's tls.crt and tls.key.
func (b *builder) cert(ns, name string) (*tls.Certificate, error) {
	key := ns + "/" + name
	s, err := b.secrets.Secrets(ns).Get(name)
	if err != nil {
		delete(b.certs, key)
		return nil, fmt.Errorf("not found")
	}
	if c, ok := b.certs[key]; ok && c.resourceVersion == s.ResourceVersion && s.ResourceVersion != "" {
		return c.cert, c.err
	}
	c := cachedCert{resourceVersion: s.ResourceVersion}
	crt, key2 := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key2) == 0 {
		c.err = fmt.Errorf("no %s or %s", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	} else if pair, err := tls.X509KeyPair(crt, key2); err != nil {
		c.err = fmt.Errorf("parse key pair: %w", err)
	} else {
		c.cert = &pair
	}
	b.certs[key] = c
	return c.cert, c.err
}
