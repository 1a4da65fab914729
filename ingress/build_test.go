package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// routed returns the Service name a request is routed to: by rule, else
// the default backend, "" when nothing matches (404).
func routed(t *table, host, p string) string {
	be := t.def
	if r := t.route(normalizeHost(host), p); r != nil {
		be = r.backend
	}
	if be == nil {
		return ""
	}
	name := strings.TrimPrefix(be.key, "default/")
	name, _, _ = strings.Cut(name, ":")
	return name
}

func TestPathPrecedence(t *testing.T) {
	P := func(p, svc string) networkingv1.HTTPIngressPath { return path("Prefix", p, svc) }
	E := func(p, svc string) networkingv1.HTTPIngressPath { return path("Exact", p, svc) }
	I := func(p, svc string) networkingv1.HTTPIngressPath { return path("ImplementationSpecific", p, svc) }
	type req struct{ path, want string }
	tests := []struct {
		name  string
		paths []networkingv1.HTTPIngressPath
		reqs  []req
	}{
		{"prefix root matches all", []networkingv1.HTTPIngressPath{P("/", "root")},
			[]req{{"/", "root"}, {"/anything/at/all", "root"}}},
		{"exact", []networkingv1.HTTPIngressPath{E("/foo", "foo")},
			[]req{{"/foo", "foo"}, {"/bar", ""}, {"/foo/", ""}, {"/FOO", ""}, {"/foo/bar", ""}}},
		{"exact with trailing slash", []networkingv1.HTTPIngressPath{E("/foo/", "foo")},
			[]req{{"/foo", ""}, {"/foo/", "foo"}}},
		{"prefix", []networkingv1.HTTPIngressPath{P("/foo", "foo")},
			[]req{{"/foo", "foo"}, {"/foo/", "foo"}, {"/foo/bar", "foo"}, {"/foobar", ""}, {"/FOO", ""}, {"/", ""}}},
		{"prefix with trailing slash ignores it", []networkingv1.HTTPIngressPath{P("/foo/", "foo")},
			[]req{{"/foo", "foo"}, {"/foo/", "foo"}, {"/foo/x", "foo"}, {"/foox", ""}}},
		{"prefix is element-wise", []networkingv1.HTTPIngressPath{P("/aaa/bb", "bb")},
			[]req{{"/aaa/bbb", ""}, {"/aaa/bb", "bb"}, {"/aaa/bb/c", "bb"}}},
		{"prefix multi-element", []networkingv1.HTTPIngressPath{P("/aaa/bbb", "bbb")},
			[]req{{"/aaa/bbb", "bbb"}, {"/aaa/bbb/", "bbb"}, {"/aaa/bbb/ccc", "bbb"}, {"/aaa/bbbxyz", ""}, {"/aaa", ""}}},
		{"longest prefix wins whatever the order",
			[]networkingv1.HTTPIngressPath{P("/", "root"), P("/aaa", "aaa"), P("/aaa/bbb", "bbb")},
			[]req{{"/aaa/ccc", "aaa"}, {"/aaa/bbb", "bbb"}, {"/aaa/bbb/x", "bbb"}, {"/ccc", "root"}, {"/aaaccc", "root"}}},
		{"longest prefix wins, reversed order",
			[]networkingv1.HTTPIngressPath{P("/aaa/bbb", "bbb"), P("/aaa", "aaa"), P("/", "root")},
			[]req{{"/aaa/ccc", "aaa"}, {"/aaa/bbb", "bbb"}, {"/ccc", "root"}}},
		{"no matching prefix", []networkingv1.HTTPIngressPath{P("/aaa", "aaa")},
			[]req{{"/ccc", ""}}},
		{"exact beats prefix of equal length", []networkingv1.HTTPIngressPath{P("/foo", "prefix"), E("/foo", "exact")},
			[]req{{"/foo", "exact"}, {"/foo/", "prefix"}, {"/foo/bar", "prefix"}}},
		{"exact beats prefix of equal length, trailing slash aside",
			[]networkingv1.HTTPIngressPath{P("/foo/", "prefix"), E("/foo", "exact")},
			[]req{{"/foo", "exact"}, {"/foo/", "prefix"}}},
		{"longer exact beats shorter prefix", []networkingv1.HTTPIngressPath{P("/a", "prefix"), E("/a/b", "exact")},
			[]req{{"/a/b", "exact"}, {"/a/b/c", "prefix"}, {"/a/c", "prefix"}}},
		{"longer prefix beats shorter exact", []networkingv1.HTTPIngressPath{E("/a", "exact"), P("/a/b", "prefix")},
			[]req{{"/a", "exact"}, {"/a/b", "prefix"}, {"/a/c", ""}}},
		{"implementation specific is prefix", []networkingv1.HTTPIngressPath{I("/foo", "foo")},
			[]req{{"/foo", "foo"}, {"/foo/bar", "foo"}, {"/foobar", ""}}},
		{"implementation specific without path matches all", []networkingv1.HTTPIngressPath{I("", "all")},
			[]req{{"/", "all"}, {"/x/y", "all"}}},
		{"same prefix twice: first wins", []networkingv1.HTTPIngressPath{P("/foo", "first"), P("/foo/", "second")},
			[]req{{"/foo/x", "first"}}},
		{"same exact twice: first wins", []networkingv1.HTTPIngressPath{E("/foo", "first"), E("/foo", "second")},
			[]req{{"/foo", "first"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, _ := mustBuild(t, newIngress("default", "ing", 0, className("berth"), withRule("", tt.paths...)))
			for _, r := range tt.reqs {
				if got := routed(tbl, "example.com", r.path); got != r.want {
					t.Errorf("%s: routed to %q, want %q", r.path, got, r.want)
				}
			}
		})
	}
}

func TestHostMatching(t *testing.T) {
	P := func(p, svc string) networkingv1.HTTPIngressPath { return path("Prefix", p, svc) }
	tbl, _ := mustBuild(t, newIngress("default", "hosts", 0, className("berth"),
		withRule("foo.bar.com", P("/", "foo-bar-com")),
		withRule("*.foo.com", P("/", "wildcard-foo-com")),
		withRule("api.example.com", P("/api", "api")),
		withRule("*.example.com", P("/w", "wild-w")),
		withRule("", P("/x", "any-x")),
	))
	tests := []struct{ host, path, want string }{
		{"foo.bar.com", "/", "foo-bar-com"},
		{"FOO.Bar.com:8080", "/a", "foo-bar-com"},
		{"foo.bar.com.", "/", "foo-bar-com"},
		{"subdomain.bar.com", "/", ""},
		{"bar.foo.com", "/", "wildcard-foo-com"},
		{"bar.foo.com:443", "/", "wildcard-foo-com"},
		{"baz.bar.foo.com", "/", ""},
		{"foo.com", "/", ""},
		{"api.example.com", "/api/v1", "api"},
		// The exact host has no matching path: the wildcard, then the
		// rules without host get their turn.
		{"api.example.com", "/w", "wild-w"},
		{"api.example.com", "/x", "any-x"},
		{"api.example.com", "/y", ""},
		{"a.b.example.com", "/w", ""},
		{"a.b.example.com", "/x", "any-x"},
		{"10.0.0.1:80", "/x", "any-x"},
		{"[::1]:80", "/x", "any-x"},
		{"", "/x", "any-x"},
	}
	for _, tt := range tests {
		if got := routed(tbl, tt.host, tt.path); got != tt.want {
			t.Errorf("%s%s: routed to %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "Example.COM:80": "example.com", "example.com.": "example.com",
		"[::1]:8080": "::1", "[::1]": "::1", "10.1.2.3:80": "10.1.2.3", "": "",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOldestIngressWins(t *testing.T) {
	P := func(p, svc string) networkingv1.HTTPIngressPath { return path("Prefix", p, svc) }
	// Listed by name, "a-new" comes first; by age "z-old" does.
	newer := newIngress("default", "a-new", 5, className("berth"), withRule("h", P("/", "new"), P("/only-new", "new")), withDefault("new-default", 80))
	older := newIngress("default", "z-old", 1, className("berth"), withRule("h", P("/", "old")), withDefault("old-default", 80))
	tbl, _ := mustBuild(t, newer, older)
	for _, tt := range []struct{ host, path, want string }{
		{"h", "/", "old"},
		{"h", "/only-new/x", "new"},
		{"other", "/", "old-default"},
	} {
		if got := routed(tbl, tt.host, tt.path); got != tt.want {
			t.Errorf("%s%s: routed to %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
	if r := tbl.route("h", "/"); r == nil || r.ingress != "default/z-old" {
		t.Errorf("route of h/ comes from %+v, want default/z-old", r)
	}

	// Same age: namespace, then name decide.
	a := newIngress("ns-b", "x", 1, className("berth"), withRule("h", P("/", "ns-b")))
	b := newIngress("ns-a", "y", 1, className("berth"), withRule("h", P("/", "ns-a")))
	tbl, _ = mustBuild(t, a, b)
	if r := tbl.route("h", "/"); r == nil || r.ingress != "ns-a/y" {
		t.Errorf("tie: route from %+v, want ns-a/y", r)
	}
}

func TestDefaultBackendAndNothing(t *testing.T) {
	tbl, _ := mustBuild(t)
	if got := routed(tbl, "x", "/"); got != "" {
		t.Errorf("empty table routes to %q", got)
	}
	tbl, _ = mustBuild(t, newIngress("default", "d", 0, className("berth"), withDefault("fallback", 80),
		withRule("h", path("Exact", "/e", "exact"))))
	for _, tt := range []struct{ host, path, want string }{
		{"h", "/e", "exact"}, {"h", "/e/x", "fallback"}, {"other", "/", "fallback"},
	} {
		if got := routed(tbl, tt.host, tt.path); got != tt.want {
			t.Errorf("%s%s: routed to %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
}

func TestClassSelection(t *testing.T) {
	custom := func(name, controller string, isDefault bool) *networkingv1.IngressClass {
		ic := defaultClass(name, controller)
		if !isDefault {
			ic.Annotations = nil
		}
		return ic
	}
	tests := []struct {
		name    string
		opts    []ingressOpt
		classes []runtime.Object
		want    bool
	}{
		{"own class", []ingressOpt{className("berth")}, nil, true},
		{"other class", []ingressOpt{className("nginx")}, nil, false},
		{"legacy annotation", []ingressOpt{legacyClass("berth")}, nil, true},
		{"legacy annotation of another class", []ingressOpt{legacyClass("nginx")}, nil, false},
		{"no class, no default class", nil, nil, false},
		{"no class, own class is default", nil, []runtime.Object{custom("berth", DefaultControllerName, true)}, true},
		{"no class, another class is default", nil,
			[]runtime.Object{custom("berth", DefaultControllerName, false), custom("nginx", "k8s.io/ingress-nginx", true)}, false},
		{"class implemented by our controller", []ingressOpt{className("fast")},
			[]runtime.Object{custom("fast", DefaultControllerName, false)}, true},
		{"class of another controller", []ingressOpt{className("fast")},
			[]runtime.Object{custom("fast", "example.com/other", false)}, false},
		{"no class, default class of our controller", nil,
			[]runtime.Object{custom("fast", DefaultControllerName, true)}, true},
		{"class given, another default ignored", []ingressOpt{className("nginx")},
			[]runtime.Object{custom("berth", DefaultControllerName, true)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append(tt.opts, withRule("h", path("Prefix", "/", "web")))
			objs := append([]runtime.Object{newIngress("default", "ing", 0, opts...)}, tt.classes...)
			tbl, _ := mustBuild(t, objs...)
			if got := tbl.route("h", "/") != nil; got != tt.want {
				t.Errorf("served = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackendResolution(t *testing.T) {
	svc := newService("default", "web",
		corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
		corev1.ServicePort{Name: "admin", Port: 9000, Protocol: corev1.ProtocolTCP})
	term := endpoint{ip: "10.0.0.4", ready: ptr(false), terminating: true}
	termReady := endpoint{ip: "10.0.0.5", ready: ptr(true), terminating: true}
	unknown := endpoint{ip: "10.0.0.3"}
	objs := []runtime.Object{
		svc,
		newSlice("default", "web-1", "web", "http", 8080, ready("10.0.0.1"), notReady("10.0.0.2"), unknown, term, termReady),
		newSlice("default", "web-2", "web", "http", 8080, ready("10.0.0.1"), ready("fd00::1")),
		newSlice("default", "web-3", "web", "admin", 9090, ready("10.0.0.9")),
		newSlice("default", "other-1", "other", "http", 8080, ready("10.9.9.9")),
		newService("default", "unnamed"),
		newSlice("default", "unnamed-1", "unnamed", "", 8081, ready("10.1.0.1")),
		newService("default", "empty"),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", Ports: []corev1.ServicePort{{Port: 80}}}},
	}
	resource := networkingv1.HTTPIngressPath{Path: "/resource", PathType: ptr(networkingv1.PathTypePrefix),
		Backend: networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}}
	wrongPort := path("Prefix", "/wrong-port", "web")
	wrongPort.Backend.Service.Port.Number = 81
	ing := newIngress("default", "ing", 0, className("berth"), withRule("h",
		path("Prefix", "/by-number", "web"),
		namedPath("Prefix", "/by-name", "web", "admin"),
		namedPath("Prefix", "/by-http-name", "web", "http"),
		wrongPort,
		path("Prefix", "/missing", "nosuch"),
		path("Prefix", "/unnamed", "unnamed"),
		path("Prefix", "/empty", "empty"),
		path("Prefix", "/ext", "ext"),
		resource,
	))
	tbl, warnings := mustBuild(t, append(objs, ing)...)
	tests := []struct {
		path      string
		endpoints []string
		status    int
		reason    string
	}{
		{"/by-number", []string{"10.0.0.1:8080", "10.0.0.3:8080", "[fd00::1]:8080"}, 0, ""},
		{"/by-http-name", []string{"10.0.0.1:8080", "10.0.0.3:8080", "[fd00::1]:8080"}, 0, ""},
		{"/by-name", []string{"10.0.0.9:9090"}, 0, ""},
		{"/wrong-port", nil, http.StatusServiceUnavailable, "service has no such port"},
		{"/missing", nil, http.StatusServiceUnavailable, "service not found"},
		{"/unnamed", []string{"10.1.0.1:8081"}, 0, ""},
		{"/empty", nil, http.StatusServiceUnavailable, "no ready endpoints"},
		{"/ext", nil, http.StatusServiceUnavailable, "ExternalName services are not supported"},
		{"/resource", nil, http.StatusServiceUnavailable, "resource backends are not supported"},
	}
	for _, tt := range tests {
		r := tbl.route("h", tt.path)
		if r == nil {
			t.Errorf("%s: no route", tt.path)
			continue
		}
		be := r.backend
		if !slices.Equal(be.endpoints, tt.endpoints) || be.status != tt.status || be.reason != tt.reason {
			t.Errorf("%s: backend endpoints %v status %d %q, want %v %d %q", tt.path, be.endpoints, be.status, be.reason, tt.endpoints, tt.status, tt.reason)
		}
	}
	if len(warnings) != 4 {
		t.Errorf("warnings = %q, want 4 (port, missing, ExternalName, resource; not the empty one)", warnings)
	}
}

func TestRoundRobinOrder(t *testing.T) {
	be := &backend{endpoints: []string{"a", "b", "c"}, down: make([]atomic.Int64, 3)}
	var firsts []string
	for range 6 {
		o := be.order(nil)
		if len(o) != 3 {
			t.Fatalf("order = %v, want all 3", o)
		}
		firsts = append(firsts, o[0])
	}
	if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(firsts, want) {
		t.Errorf("first choices %v, want %v", firsts, want)
	}
	be.markDown("b")
	for range 3 {
		o := be.order(nil)
		if o[len(o)-1] != "b" {
			t.Errorf("order %v: endpoint marked down should come last", o)
		}
	}
	// A new table's backend takes the position and marks over.
	nb := &backend{endpoints: []string{"b", "c", "d"}, down: make([]atomic.Int64, 3)}
	nb.inherit(be)
	if nb.next.Load() != be.next.Load() {
		t.Errorf("round-robin position not inherited")
	}
	if nb.down[0].Load() == 0 || nb.down[1].Load() != 0 {
		t.Errorf("down marks not inherited by address")
	}
}

// genCert makes a self-signed certificate for names, PEM encoded.
func genCert(t testing.TB, cn string, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func tlsSecret(t testing.TB, ns, name, cn string, names ...string) *corev1.Secret {
	crt, key := genCert(t, cn, names...)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}
}

func TestCertificateSelection(t *testing.T) {
	objs := []runtime.Object{
		tlsSecret(t, "default", "exact", "exact", "a.example.com"),
		tlsSecret(t, "default", "wild", "wild", "*.example.com"),
		tlsSecret(t, "default", "sans", "sans", "sans.example.org", "*.sans.example.org"),
		tlsSecret(t, "default", "newer", "newer", "a.example.com"),
		tlsSecret(t, "other", "elsewhere", "elsewhere", "x.example.net"),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "broken"}, Data: map[string][]byte{corev1.TLSCertKey: []byte("junk"), corev1.TLSPrivateKeyKey: []byte("junk")}},
		newIngress("default", "old", 0, className("berth"),
			withTLS("exact", "a.example.com"), withTLS("wild", "*.example.com"), withTLS("sans")),
		newIngress("default", "new", 1, className("berth"),
			withTLS("newer", "a.example.com", "b.example.com"), withTLS("elsewhere", "x.example.net"), withTLS("broken", "y.example.net")),
	}
	tbl, warnings := mustBuild(t, objs...)
	cn := func(name string) string {
		c := tbl.certificate(name)
		if c == nil {
			return ""
		}
		return c.Leaf.Subject.CommonName
	}
	for _, tt := range []struct{ sni, want string }{
		{"a.example.com", "exact"},   // older Ingress wins over "newer"
		{"A.Example.com", "exact"},   // case-insensitive
		{"b.example.com", "newer"},   // exact beats the wildcard
		{"c.example.com", "wild"},    // wildcard
		{"x.y.example.com", ""},      // wildcard covers one label
		{"example.com", ""},          // and not none
		{"sans.example.org", "sans"}, // no hosts: the certificate's own names
		{"q.sans.example.org", "sans"},
		{"x.example.net", ""}, // the Secret is in another namespace
		{"y.example.net", ""}, // unparsable
		{"", ""},
	} {
		if got := cn(tt.sni); got != tt.want {
			t.Errorf("SNI %q: certificate %q, want %q", tt.sni, got, tt.want)
		}
	}
	if len(warnings) != 2 {
		t.Errorf("warnings = %q, want 2 (missing secret, broken secret)", warnings)
	}
}
