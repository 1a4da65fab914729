package dns

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"berth/internal/informer"
)

// kind is how a Service is answered.
type kind int

const (
	kindClusterIP kind = iota // its ClusterIPs
	kindHeadless              // its endpoints' addresses
	kindExternal              // a CNAME to spec.externalName
)

// port is a Service or EndpointSlice port; name and proto are lower case.
type port struct {
	name  string
	proto string
	port  int32
}

// endpoint is one address of a Service's endpoints that DNS publishes.
type endpoint struct {
	addr  netip.Addr
	label string // the hostname, or the dashed address
	ports []port // the EndpointSlice's ports
}

// service is the DNS view of a Service and its EndpointSlices. It is
// immutable once in the index: a change builds a new one, so readers use it
// without the lock.
type service struct {
	name, namespace string
	fqdn            string // name.namespace.svc.DOMAIN.
	kind            kind
	clusterIPs      []netip.Addr
	externalName    string // fully qualified, lower case
	ports           []port
	endpoints       []endpoint // ready (or all, with publishNotReadyAddresses)
}

// sliceRef is what the index keeps of an EndpointSlice.
type sliceRef struct {
	service string // the Service key, namespace/name
	slice   *discoveryv1.EndpointSlice
}

// index is the in-memory view of Services and EndpointSlices the server
// answers from, updated by informer event handlers.
type index struct {
	domain string

	mu       sync.RWMutex
	svcObjs  map[string]*corev1.Service                       // namespace/name
	slices   map[string]map[string]*discoveryv1.EndpointSlice // service key → slice name
	sliceSvc map[string]string                                // slice key → service key
	services map[string]*service                              // service key → view
	// reverse maps addresses to the names PTR records point at: the
	// Services with that ClusterIP first, then endpoints.
	svcByIP map[netip.Addr]map[string]struct{}
	epByIP  map[netip.Addr]map[string]struct{}
	serial  uint32
}

func newIndex(domain string) *index {
	return &index{
		domain:   domain,
		svcObjs:  map[string]*corev1.Service{},
		slices:   map[string]map[string]*discoveryv1.EndpointSlice{},
		sliceSvc: map[string]string{},
		services: map[string]*service{},
		svcByIP:  map[netip.Addr]map[string]struct{}{},
		epByIP:   map[netip.Addr]map[string]struct{}{},
		serial:   uint32(time.Now().Unix()),
	}
}

// serviceHandler and sliceHandler are the informers' event handlers.
func (x *index) serviceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { x.setService(obj) },
		UpdateFunc: func(_, obj interface{}) { x.setService(obj) },
		DeleteFunc: func(obj interface{}) {
			if svc, ok := informer.Object[*corev1.Service](obj); ok {
				x.deleteService(svc.Namespace + "/" + svc.Name)
			}
		},
	}
}

func (x *index) sliceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { x.setSlice(obj) },
		UpdateFunc: func(_, obj interface{}) { x.setSlice(obj) },
		DeleteFunc: func(obj interface{}) {
			if s, ok := informer.Object[*discoveryv1.EndpointSlice](obj); ok {
				x.deleteSlice(s.Namespace + "/" + s.Name)
			}
		},
	}
}

func (x *index) setService(obj interface{}) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	x.mu.Lock()
	defer x.mu.Unlock()
	x.svcObjs[key] = svc
	x.rebuild(key)
}

func (x *index) deleteService(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.svcObjs, key)
	x.rebuild(key)
}

func (x *index) setSlice(obj interface{}) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	key := s.Namespace + "/" + s.Name
	x.mu.Lock()
	defer x.mu.Unlock()
	old, had := x.sliceSvc[key]
	name := s.Labels[discoveryv1.LabelServiceName]
	if had && (name == "" || old != s.Namespace+"/"+name) {
		x.dropSlice(key, old)
	}
	if name == "" {
		return
	}
	svcKey := s.Namespace + "/" + name
	x.sliceSvc[key] = svcKey
	if x.slices[svcKey] == nil {
		x.slices[svcKey] = map[string]*discoveryv1.EndpointSlice{}
	}
	x.slices[svcKey][s.Name] = s
	x.rebuild(svcKey)
}

func (x *index) deleteSlice(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if svcKey, ok := x.sliceSvc[key]; ok {
		x.dropSlice(key, svcKey)
	}
}

// dropSlice forgets a slice and rebuilds its former Service; x.mu is held.
func (x *index) dropSlice(key, svcKey string) {
	delete(x.sliceSvc, key)
	_, name, _ := strings.Cut(key, "/")
	delete(x.slices[svcKey], name)
	if len(x.slices[svcKey]) == 0 {
		delete(x.slices, svcKey)
	}
	x.rebuild(svcKey)
}

// rebuild recomputes the view of one Service; x.mu is held.
func (x *index) rebuild(key string) {
	old := x.services[key]
	var cur *service
	if obj := x.svcObjs[key]; obj != nil {
		cur = x.build(obj, x.slices[key])
	}
	if old != nil {
		x.unindex(old)
	}
	if cur == nil {
		delete(x.services, key)
	} else {
		x.services[key] = cur
		x.reindex(cur)
	}
	x.serial++
}

func (x *index) build(obj *corev1.Service, eps map[string]*discoveryv1.EndpointSlice) *service {
	s := &service{
		name:      obj.Name,
		namespace: obj.Namespace,
		fqdn:      obj.Name + "." + obj.Namespace + ".svc." + x.domain + ".",
	}
	switch {
	case obj.Spec.Type == corev1.ServiceTypeExternalName:
		s.kind = kindExternal
		s.externalName = strings.ToLower(strings.TrimSuffix(obj.Spec.ExternalName, ".")) + "."
	case obj.Spec.ClusterIP == corev1.ClusterIPNone:
		s.kind = kindHeadless
	default:
		s.kind = kindClusterIP
		ips := obj.Spec.ClusterIPs
		if len(ips) == 0 && obj.Spec.ClusterIP != "" {
			ips = []string{obj.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil {
				s.clusterIPs = append(s.clusterIPs, a.Unmap())
			}
		}
	}
	for _, p := range obj.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		s.ports = append(s.ports, port{name: strings.ToLower(p.Name), proto: strings.ToLower(string(proto)), port: p.Port})
	}
	if s.kind == kindExternal {
		return s
	}
	all := obj.Spec.PublishNotReadyAddresses
	names := make([]string, 0, len(eps))
	for name := range eps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sl := eps[name]
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var ports []port
		for _, p := range sl.Ports {
			var pp port
			pp.port = -1
			if p.Port != nil {
				pp.port = *p.Port
			}
			if p.Name != nil {
				pp.name = strings.ToLower(*p.Name)
			}
			pp.proto = "tcp"
			if p.Protocol != nil {
				pp.proto = strings.ToLower(string(*p.Protocol))
			}
			ports = append(ports, pp)
		}
		for _, e := range sl.Endpoints {
			// A nil ready condition means unknown, to be taken as ready.
			if !all && e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				addr = addr.Unmap()
				label := dashed(addr)
				if e.Hostname != nil && *e.Hostname != "" {
					label = strings.ToLower(*e.Hostname)
				}
				s.endpoints = append(s.endpoints, endpoint{addr: addr, label: label, ports: ports})
			}
		}
	}
	return s
}

// dashed is an address as a DNS label: 10.42.0.5 → 10-42-0-5,
// fd00::5 → fd00--5.
func dashed(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

func (x *index) reindex(s *service) {
	for _, ip := range s.clusterIPs {
		addTo(x.svcByIP, ip, s.fqdn)
	}
	for _, e := range s.endpoints {
		addTo(x.epByIP, e.addr, e.label+"."+s.fqdn)
	}
}

func (x *index) unindex(s *service) {
	for _, ip := range s.clusterIPs {
		removeFrom(x.svcByIP, ip, s.fqdn)
	}
	for _, e := range s.endpoints {
		removeFrom(x.epByIP, e.addr, e.label+"."+s.fqdn)
	}
}

func addTo(m map[netip.Addr]map[string]struct{}, a netip.Addr, name string) {
	if m[a] == nil {
		m[a] = map[string]struct{}{}
	}
	m[a][name] = struct{}{}
}

func removeFrom(m map[netip.Addr]map[string]struct{}, a netip.Addr, name string) {
	delete(m[a], name)
	if len(m[a]) == 0 {
		delete(m, a)
	}
}

// lookup returns the view of a Service, nil if there is none.
func (x *index) lookup(namespace, name string) *service {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.services[namespace+"/"+name]
}

// reverse returns the names an address points back at: the Services
// whose ClusterIP it is, else the endpoints that have it; sorted.
func (x *index) reverse(a netip.Addr) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	set := x.svcByIP[a]
	if len(set) == 0 {
		set = x.epByIP[a]
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// soaSerial is the SOA serial: it changes with every index change.
func (x *index) soaSerial() uint32 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.serial
}
