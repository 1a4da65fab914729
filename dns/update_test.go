package dns

import (
	"context"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestUpdates checks that answers follow Service and EndpointSlice
// changes within a second.
func TestUpdates(t *testing.T) {
	h := start(t, nil, nil)
	h.t = t
	ctx := context.Background()
	const name = "api.team.svc.cluster.local."
	answers := func(qname string) []string {
		r := h.query(qname, mdns.TypeA, "udp")
		if r.Rcode != mdns.RcodeSuccess {
			return []string{mdns.RcodeToString[r.Rcode]}
		}
		return rrStrings(r.Answer)
	}
	is := func(qname string, want ...string) func() bool {
		return func() bool {
			if len(want) == 1 && want[0] == "NXDOMAIN" {
				return slices.Equal(answers(qname), want)
			}
			return slices.Equal(answers(qname), norm(t, want...))
		}
	}
	logTook := func(what string, d time.Duration) { t.Logf("%s: answered after %s", what, d) }

	if got := answers(name); !slices.Equal(got, []string{"NXDOMAIN"}) {
		t.Fatalf("before create: %v", got)
	}

	// A Service is created: answered.
	if _, err := h.client.CoreV1().Services("team").Create(ctx, newService("team", "api", []string{"10.43.1.1"}, withPort("http", corev1.ProtocolTCP, 80)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	logTook("create", within(t, time.Second, "created service answered", is(name, name+" 5 IN A 10.43.1.1")))

	// Its ClusterIP changes (delete and recreate): the new one.
	if err := h.client.CoreV1().Services("team").Delete(ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	logTook("delete", within(t, time.Second, "deleted service is NXDOMAIN", is(name, "NXDOMAIN")))
	if _, err := h.client.CoreV1().Services("team").Create(ctx, newService("team", "api", []string{"10.43.1.2"}, withPort("http", corev1.ProtocolTCP, 80)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "recreated service answered", is(name, name+" 5 IN A 10.43.1.2"))

	// A headless Service: no ready endpoint, then one becomes ready,
	// then a second one, then the slice goes.
	const hl = "pods.team.svc.cluster.local."
	if _, err := h.client.CoreV1().Services("team").Create(ctx, headless("team", "pods"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl := slice("team", "pods", "pods-abc", v4, "http", 8080, ep{addr: "10.42.1.5", hostname: "p0", ready: false}, ep{addr: "10.42.1.6", ready: false})
	if _, err := h.client.DiscoveryV1().EndpointSlices("team").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Nothing to see in DNS yet: wait for the index to have the slice.
	within(t, time.Second, "slice indexed", func() bool {
		h.srv.idx.mu.RLock()
		defer h.srv.idx.mu.RUnlock()
		return len(h.srv.idx.slices["team/pods"]) == 1
	})
	if got := answers(hl); !slices.Equal(got, []string{"NXDOMAIN"}) {
		t.Fatalf("headless without ready endpoints: %v", got)
	}
	ready := true
	sl.Endpoints[0].Conditions.Ready = &ready
	if _, err := h.client.DiscoveryV1().EndpointSlices("team").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	logTook("endpoint ready", within(t, time.Second, "ready endpoint answered", is(hl, hl+" 5 IN A 10.42.1.5")))
	within(t, time.Second, "hostname answered", is("p0."+hl, "p0."+hl+" 5 IN A 10.42.1.5"))
	sl.Endpoints[1].Conditions.Ready = &ready
	if _, err := h.client.DiscoveryV1().EndpointSlices("team").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "second endpoint answered", is(hl, hl+" 5 IN A 10.42.1.5", hl+" 5 IN A 10.42.1.6"))
	notReady := false
	sl.Endpoints[0].Conditions.Ready = &notReady
	if _, err := h.client.DiscoveryV1().EndpointSlices("team").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "endpoint no longer ready", is(hl, hl+" 5 IN A 10.42.1.6"))
	within(t, time.Second, "its hostname gone", is("p0."+hl, "NXDOMAIN"))
	if err := h.client.DiscoveryV1().EndpointSlices("team").Delete(ctx, "pods-abc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "slice deleted", is(hl, "NXDOMAIN"))

	// The Service turns into an ExternalName one.
	svc, err := h.client.CoreV1().Services("team").Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "pods.team.svc.cluster.local"}
	if _, err := h.client.CoreV1().Services("team").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "external name", func() bool {
		r := h.query(name, mdns.TypeCNAME, "udp")
		return slices.Equal(rrStrings(r.Answer), norm(t, name+" 5 IN CNAME pods.team.svc.cluster.local."))
	})
}

// TestPTRUpdates checks the reverse map follows changes too.
func TestPTRUpdates(t *testing.T) {
	h := start(t, nil, nil)
	h.t = t
	ctx := context.Background()
	const rev = "7.1.43.10.in-addr.arpa."
	ptr := func() int {
		r := h.query(rev, mdns.TypePTR, "udp")
		if r.Rcode != mdns.RcodeSuccess {
			return -r.Rcode
		}
		return len(r.Answer)
	}
	if _, err := h.client.CoreV1().Services("a").Create(ctx, newService("a", "x", []string{"10.43.1.7"}, withPort("p", corev1.ProtocolTCP, 1)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "ptr answered", func() bool { return ptr() == 1 })
	if err := h.client.CoreV1().Services("a").Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Gone from the index: the question goes upstream, which is down.
	within(t, 2*time.Second, "ptr forwarded", func() bool { return ptr() == -mdns.RcodeServerFailure })
}
