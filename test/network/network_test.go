package network

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probePod is a busybox pod bound to a node that serves, on port 8081,
// /cgi-bin/ip: "peer=ADDRESS" with the address the connection came from.
// The tests also run wget and nslookup in it.
func probePod(name, node string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: probe}}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    args:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "peer=$REMOTE_ADDR"\n' > /www/cgi-bin/ip
      chmod +x /www/cgi-bin/ip
      exec httpd -f -p 8081 -h /www
    readinessProbe:
      tcpSocket: {port: 8081}
      periodSeconds: 1
`, name, node)
}

// demoDeployment is a Deployment of berth/demo (container "demo") with
// the label app=NAME, spread over the nodes, and a Service NAME (port 80
// to the pods' 8080) in front of it.
func demoDeployment(name, version string, replicas int) string {
	return fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 10
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {matchLabels: {app: %[1]s}}
      containers:
      - name: demo
        image: berth/demo:%[2]s
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: http}]
`, name, version, replicas)
}

// TestNetwork runs a cluster of two nodes on one LAN (the agents' default
// network mode: direct routes) and checks what pods, Services, cluster DNS
// and the ingress controller give: see doc.go. The subtests share the
// cluster and run in order; the rolling update comes last.
func TestNetwork(t *testing.T) {
	start := time.Now()
	c := startCluster(t, clusterOptions{agents: 2})
	h0, h1, h2 := c.hosts[0], c.hosts[1], c.hosts[2]
	n1, n2 := c.nodes[0], c.nodes[1]
	ns := c.namespace(t, "net")
	c.apply(t, ns, probePod("probe-1", n1)+"---"+probePod("probe-2", n2)+"---"+
		demoDeployment("web", "v1", 4)+"---"+demoDeployment("web-v2", "v2", 1))
	c.waitPods(t, ns, "app=probe", 2)
	web := c.waitPods(t, ns, "app=web", 4)
	c.waitPods(t, ns, "app=web-v2", 1)
	t.Logf("cluster and workloads ready in %v", time.Since(start).Round(time.Millisecond))

	// nodeOf maps the demo pods to their nodes.
	nodeOf := map[string]string{}
	perNode := map[string]int{}
	for _, p := range web {
		nodeOf[p.Name] = p.Spec.NodeName
		perNode[p.Spec.NodeName]++
	}
	t.Logf("web pods per node: %v", perNode)
	if perNode[n1] == 0 || perNode[n2] == 0 {
		t.Fatalf("the web pods are not spread over both nodes: %v", perNode)
	}
	probe1, probe2 := c.pod(t, ns, "probe-1"), c.pod(t, ns, "probe-2")

	t.Run("PodToPod", func(t *testing.T) {
		cidr1, cidr2 := c.podCIDR(t, n1), c.podCIDR(t, n2)
		for _, p := range []*corev1.Pod{probe1, probe2} {
			want := cidr1
			if p.Spec.NodeName == n2 {
				want = cidr2
			}
			if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !want.Contains(ip) {
				t.Errorf("pod %s on %s has IP %q, outside its node's pod CIDR %s", p.Name, p.Spec.NodeName, p.Status.PodIP, want)
			}
		}
		// Nodes on one link: the agents route other nodes' pods through
		// the node's address (host-gw).
		for _, r := range []struct {
			on   int
			cidr netip.Prefix
			via  netip.Addr
		}{{1, cidr2, h2.IP}, {2, cidr1, h1.IP}} {
			out := c.run(t, c.hosts[r.on], "ip", "route", "show", r.cidr.String())
			if !strings.Contains(out, "via "+r.via.String()+" ") {
				t.Errorf("route to %s on %s: %q, want one via %s", r.cidr, c.hosts[r.on].Name, out, r.via)
			}
		}
		// A demo pod on node 2 answers a pod on node 1 at its pod IP.
		var target corev1.Pod
		for _, p := range web {
			if p.Spec.NodeName == n2 {
				target = p
				break
			}
		}
		out := c.exec(t, ns, "probe-1", "wget", "-qO-", "http://"+target.Status.PodIP+":8080/")
		if _, pod, ok := parseDemo(out); !ok || pod != target.Name {
			t.Errorf("probe-1 → %s (%s on %s): %q, want the demo answer of that pod", target.Status.PodIP, target.Name, n2, out)
		}
		// Pods see each other's own addresses: no NAT between pods.
		for _, d := range []struct{ from, to *corev1.Pod }{{probe1, probe2}, {probe2, probe1}} {
			out := c.exec(t, ns, d.from.Name, "wget", "-qO-", "http://"+d.to.Status.PodIP+":8081/cgi-bin/ip")
			if got := peerAddr(out); got.String() != d.from.Status.PodIP {
				t.Errorf("%s (%s) → %s (%s): the server saw %q, want the client pod's address", d.from.Name, d.from.Status.PodIP, d.to.Name, d.to.Status.PodIP, strings.TrimSpace(out))
			}
		}
	})

	t.Run("ClusterDNS", func(t *testing.T) {
		// kube-system/kube-dns at the cluster DNS address, served by
		// each node's DNS server on its pod network's gateway.
		dns, err := c.client.CoreV1().Services("kube-system").Get(context.Background(), "kube-dns", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the kube-dns Service: %v", err)
		}
		if dns.Spec.ClusterIP != "10.43.0.10" {
			t.Errorf("kube-dns has ClusterIP %s, want 10.43.0.10", dns.Spec.ClusterIP)
		}
		var want []string
		for _, n := range c.nodes {
			want = append(want, c.podCIDR(t, n).Addr().Next().String())
		}
		sort.Strings(want)
		var got []string
		waitFor(t, 30*time.Second, "the kube-dns endpoints on every node's gateway", func() (bool, string) {
			list, err := c.client.DiscoveryV1().EndpointSlices("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kube-dns"})
			if err != nil {
				return false, err.Error()
			}
			got = nil
			for _, s := range list.Items {
				for _, e := range s.Endpoints {
					got = append(got, e.Addresses...)
				}
			}
			sort.Strings(got)
			return slices.Equal(got, want), fmt.Sprintf("endpoints %v, want %v", got, want)
		})
		// Pods of dnsPolicy ClusterFirst use it, as the kubelet sets up.
		conf := c.exec(t, ns, "probe-1", "cat", "/etc/resolv.conf")
		for _, line := range []string{
			"nameserver 10.43.0.10",
			"search " + ns + ".svc.cluster.local svc.cluster.local cluster.local",
			"options ndots:5",
		} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `\s*$`).MatchString(conf) {
				t.Errorf("probe-1's /etc/resolv.conf has no line %q:\n%s", line, conf)
			}
		}
		// The API server's Service resolves as in every cluster.
		if addrs := tryNslookup(c, ns, "probe-1", "kubernetes.default.svc.cluster.local"); !slices.Equal(addrs, []string{"10.43.0.1"}) {
			t.Errorf("kubernetes.default.svc.cluster.local: %v, want 10.43.0.1", addrs)
		}
	})

	t.Run("ServiceNamesAndSpread", func(t *testing.T) {
		svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"web", "web." + ns, "web." + ns + ".svc.cluster.local"} {
			out := c.exec(t, ns, "probe-1", "wget", "-qO-", "http://"+name+"/")
			if v, _, ok := parseDemo(out); !ok || v != "v1" {
				t.Errorf("probe-1 → http://%s/: %q, want a v1 demo answer", name, out)
			}
		}
		addrs := nslookup(t, c, ns, "probe-2", "web."+ns+".svc.cluster.local")
		if !slices.Equal(addrs, []string{svc.Spec.ClusterIP}) {
			t.Errorf("nslookup web.%s.svc.cluster.local from probe-2: %v, want the ClusterIP %s", ns, addrs, svc.Spec.ClusterIP)
		}
		// 40 requests (new connections) from one pod reach pods on both
		// nodes.
		const n = 40
		out := c.exec(t, ns, "probe-1", "sh", "-c", fmt.Sprintf(`for i in $(seq %d); do wget -qO- http://web/ || echo FAILED; done`, n))
		byNode, byPod, bad := tally(out, nodeOf)
		t.Logf("%d requests to http://web/ from probe-1: per node %v, per pod %v", n, byNode, byPod)
		if len(bad) > 0 || sum(byNode) != n {
			t.Errorf("%d of %d answers were not demo answers of the web pods: %q", n-sum(byNode), n, bad)
		}
		if byNode[n1] == 0 || byNode[n2] == 0 {
			t.Errorf("the Service's answers came from one node only: %v", byNode)
		}
	})

	t.Run("NodePortAndLoadBalancer", func(t *testing.T) {
		np := c.createService(t, ns, "web-np", corev1.ServiceTypeNodePort, nil)
		lb := c.createService(t, ns, "web-lb", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 8000
		})
		nodePort := np.Spec.Ports[0].NodePort
		if nodePort == 0 {
			t.Fatalf("Service web-np got no nodePort: %+v", np.Spec.Ports)
		}
		client := hostClient(h0, 5*time.Second)
		// From outside the nodes (host 0) to each node's address: with
		// externalTrafficPolicy Cluster either node reaches the pods of
		// both.
		for _, h := range []int{1, 2} {
			url := fmt.Sprintf("http://%s:%d/", c.hosts[h].IP, nodePort)
			byNode := map[string]int{}
			waitHTTP(t, client, url, "", 30*time.Second)
			for range 20 {
				body, err := getOK(client, url, "")
				if err != nil {
					t.Fatalf("NodePort from %s: %v", h0.Name, err)
				}
				_, pod, ok := parseDemo(body)
				if !ok || nodeOf[pod] == "" {
					t.Fatalf("NodePort %s: %q is no answer of a web pod", url, body)
				}
				byNode[nodeOf[pod]]++
			}
			t.Logf("NodePort %s from %s: answers per node %v", url, h0.Name, byNode)
			if byNode[n1] == 0 || byNode[n2] == 0 {
				t.Errorf("NodePort %s reached the pods of one node only: %v", url, byNode)
			}
		}

		// The LoadBalancer gets the nodes' addresses and answers there.
		var ingress []string
		waitFor(t, 60*time.Second, "status.loadBalancer.ingress of web-lb", func() (bool, string) {
			s, err := c.client.CoreV1().Services(ns).Get(context.Background(), "web-lb", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			ingress = nil
			for _, in := range s.Status.LoadBalancer.Ingress {
				ingress = append(ingress, in.IP)
			}
			return len(ingress) > 0, fmt.Sprintf("%+v", s.Status)
		})
		sort.Strings(ingress)
		want := []string{h1.IP.String(), h2.IP.String()}
		sort.Strings(want)
		t.Logf("web-lb: status.loadBalancer.ingress %v, nodePort %d", ingress, lb.Spec.Ports[0].NodePort)
		if !slices.Equal(ingress, want) {
			t.Errorf("web-lb's load balancer addresses are %v, want the nodes' InternalIPs %v", ingress, want)
		}
		for _, ip := range ingress {
			url := fmt.Sprintf("http://%s:8000/", ip)
			waitHTTP(t, client, url, "", 30*time.Second)
			body, err := getOK(client, url, "")
			if v, _, ok := parseDemo(body); err != nil || !ok || v != "v1" {
				t.Errorf("LoadBalancer %s from %s: %q (%v)", url, h0.Name, body, err)
			}
		}
	})

	t.Run("HeadlessDNS", func(t *testing.T) {
		c.createService(t, ns, "web-headless", corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
		})
		var want []string
		for _, p := range web {
			want = append(want, p.Status.PodIP)
		}
		sort.Strings(want)
		name := "web-headless." + ns + ".svc.cluster.local"
		var got []string
		waitFor(t, 20*time.Second, "nslookup "+name+" to give the ready pods' addresses", func() (bool, string) {
			got = tryNslookup(c, ns, "probe-1", name)
			return slices.Equal(got, want), fmt.Sprintf("got %v, want %v", got, want)
		})
		t.Logf("%s: %v", name, got)
	})

	t.Run("NewServiceDNS", func(t *testing.T) {
		name := fmt.Sprintf("fresh-%d", time.Now().UnixNano()%100000)
		fqdn := name + "." + ns + ".svc.cluster.local"
		// A loop in the pod asks until the name resolves; the test
		// creates the Service once the loop has seen it missing.
		script := fmt.Sprintf(`end=$(( $(date +%%s) + 20 )); n=0
while [ $(date +%%s) -lt $end ]; do
  if nslookup -type=a %s 2>/dev/null | grep -A1 '^Name:' | grep -q '^Address'; then echo "found after $n misses"; exit 0; fi
  n=$((n+1)); [ $n = 1 ] && echo miss
done
echo timeout; exit 1`, fqdn)
		loop := c.startKubectl(t, 60*time.Second, "exec", "-n", ns, "probe-2", "--", "sh", "-c", script)
		if line, err := loop.next(30 * time.Second); err != nil || line != "miss" {
			t.Fatalf("the lookup loop: %q %v", line, err)
		}
		created := time.Now()
		svc := c.createService(t, ns, name, corev1.ServiceTypeClusterIP, nil)
		line, err := loop.next(20 * time.Second)
		took := time.Since(created)
		if err != nil || !strings.HasPrefix(line, "found") {
			t.Fatalf("the lookup loop: %q %v", line, err)
		}
		t.Logf("%s (%s) resolved in a pod %v after the Service was created (%s)", fqdn, svc.Spec.ClusterIP, took.Round(time.Millisecond), line)
		if took > time.Second {
			t.Errorf("DNS for a new Service answered %v after its creation, want at most 1s", took.Round(time.Millisecond))
		}
		if addrs := nslookup(t, c, ns, "probe-2", fqdn); !slices.Equal(addrs, []string{svc.Spec.ClusterIP}) {
			t.Errorf("nslookup %s: %v, want %s", fqdn, addrs, svc.Spec.ClusterIP)
		}
	})

	t.Run("SessionAffinity", func(t *testing.T) {
		c.createService(t, ns, "web-sticky", corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		})
		for _, from := range []string{"probe-1", "probe-2"} {
			const n = 20
			out := c.exec(t, ns, from, "sh", "-c", fmt.Sprintf(`for i in $(seq %d); do wget -qO- http://web-sticky/ || echo FAILED; done`, n))
			_, byPod, bad := tally(out, nodeOf)
			t.Logf("%d requests to http://web-sticky/ from %s: %v", n, from, byPod)
			if len(bad) > 0 || len(byPod) != 1 {
				t.Errorf("with ClientIP affinity the requests of %s went to %d pods %v (bad answers %q), want one", from, len(byPod), byPod, bad)
			}
		}
	})

	aCert, aKey, aParsed := selfSigned(t, "a.example.com")
	roots := x509Pool(aParsed)
	t.Run("Ingress", func(t *testing.T) {
		if class := c.kubectl(t, "get", "ingressclass", "berth", "-o", `jsonpath={.metadata.annotations.ingressclass\.kubernetes\.io/is-default-class}`); class != "true" {
			t.Errorf("IngressClass berth: is-default-class %q, want \"true\"", class)
		}
		_, err := c.client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "a-tls"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: aCert, corev1.TLSPrivateKeyKey: aKey},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No ingressClassName: the default class (berth) serves it.
		c.apply(t, ns, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: routes}
spec:
  tls:
  - hosts: [a.example.com]
    secretName: a-tls
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: b.example.com
    http:
      paths:
      - {path: /path, pathType: Prefix, backend: {service: {name: web-v2, port: {name: http}}}}
`)
		client := hostClient(h0, 5*time.Second)
		for _, h := range []int{1, 2} {
			base := "http://" + c.hosts[h].IP.String()
			waitHTTP(t, client, base+"/", "a.example.com", 30*time.Second)
			waitHTTP(t, client, base+"/path", "b.example.com", 30*time.Second)
			for _, r := range []struct {
				host, path string
				code       int
				version    string
			}{
				{"a.example.com", "/", 200, "v1"},
				{"a.example.com", "/anything", 200, "v1"},
				{"b.example.com", "/path", 200, "v2"},
				{"b.example.com", "/path/deeper", 200, "v2"},
				{"b.example.com", "/", 404, ""},
				{"b.example.com", "/pathology", 404, ""},
				{"c.example.com", "/", 404, ""},
			} {
				code, body, err := get(client, base+r.path, r.host)
				if err != nil {
					t.Errorf("GET %s%s Host %s from %s: %v", base, r.path, r.host, h0.Name, err)
					continue
				}
				v, _, _ := parseDemo(body)
				if code != r.code || v != r.version {
					t.Errorf("GET %s%s Host %s from %s: %d %q, want %d with version %q", base, r.path, r.host, h0.Name, code, strings.TrimSpace(body), r.code, r.version)
				}
			}
		}
		// TLS: a.example.com's certificate by SNI; other names get the
		// controller's self-signed default.
		for _, h := range []int{1, 2} {
			addr := c.hosts[h].IP.String() + ":443"
			waitFor(t, 30*time.Second, "the ingress to serve a.example.com's certificate on "+addr, func() (bool, string) {
				chain, err := tlsHandshake(h0, addr, "a.example.com", roots)
				return err == nil && len(chain) > 0 && chain[0].Equal(aParsed), fmt.Sprint(err)
			})
			body, err := getOK(tlsClient(h0, addr, roots), "https://a.example.com/", "")
			if v, _, ok := parseDemo(body); err != nil || !ok || v != "v1" {
				t.Errorf("GET https://a.example.com/ at %s: %q (%v)", addr, body, err)
			}
			chain, err := tlsHandshake(h0, addr, "c.example.com", nil)
			if err != nil {
				t.Errorf("TLS with SNI c.example.com at %s: %v", addr, err)
				continue
			}
			def := chain[0]
			if def.Equal(aParsed) {
				t.Errorf("%s served a.example.com's certificate for c.example.com", addr)
			} else if err := def.CheckSignature(def.SignatureAlgorithm, def.RawTBSCertificate, def.Signature); err != nil || def.Issuer.String() != def.Subject.String() {
				t.Errorf("the default certificate at %s is not self-signed: subject %q issuer %q (%v)", addr, def.Subject, def.Issuer, err)
			}
			if _, err := tlsHandshake(h0, addr, "c.example.com", roots); err == nil {
				t.Errorf("the default certificate at %s verified against a.example.com's", addr)
			}
			t.Logf("TLS at %s: a.example.com → %q; c.example.com → default %q", addr, aParsed.Subject.CommonName, def.Subject)
		}
	})

	t.Run("ZeroDowntimeRollingUpdate", func(t *testing.T) {
		np, err := c.client.CoreV1().Services(ns).Get(context.Background(), "web-np", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the NodePort Service of an earlier subtest: %v", err)
		}
		nodePort := np.Spec.Ports[0].NodePort
		svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The Service from outside the nodes (NodePort on both) and from
		// a node (ClusterIP); the Ingress on both nodes.
		targets := map[string][]loadTarget{
			"service": {
				{from: h0, url: fmt.Sprintf("http://%s:%d/", h1.IP, nodePort)},
				{from: h0, url: fmt.Sprintf("http://%s:%d/", h2.IP, nodePort)},
				{from: h1, url: "http://" + svc.Spec.ClusterIP + "/"},
			},
			"ingress": {
				{from: h0, url: "http://" + h1.IP.String() + "/", host: "a.example.com"},
				{from: h0, url: "http://" + h2.IP.String() + "/", host: "a.example.com"},
			},
		}
		for _, list := range targets {
			for _, tg := range list {
				waitHTTP(t, hostClient(tg.from, 5*time.Second), tg.url, tg.host, 30*time.Second)
			}
		}
		load := startLoad(targets, 2)
		time.Sleep(time.Second)
		rolloutStart := time.Now()
		c.kubectl(t, "set", "image", "-n", ns, "deployment/web", "demo=berth/demo:v2")
		r := runCmd(c.kubectlCmd("rollout", "status", "-n", ns, "deployment/web", "--timeout=150s"), nil, 170*time.Second)
		rolloutTook := time.Since(rolloutStart)
		time.Sleep(time.Second)
		stats := load.stop()
		if r.code != 0 {
			t.Errorf("kubectl rollout status: %s", r)
		}
		for _, name := range []string{"service", "ingress"} {
			s := stats[name]
			t.Logf("rolling update (%v) through the %s: %d requests, %d failures, answers by version %v", rolloutTook.Round(time.Millisecond), name, s.requests, s.failures, s.versions)
			if s.failures > 0 {
				t.Errorf("%d of %d requests through the %s failed during the rolling update; first: %s", s.failures, s.requests, name, strings.Join(s.errors, "; "))
			}
			if s.requests < 50 {
				t.Errorf("only %d requests through the %s during the rolling update", s.requests, name)
			}
			if s.versions["v1"] == 0 || s.versions["v2"] == 0 {
				t.Errorf("the %s answered %v during the rolling update, want v1 then v2", name, s.versions)
			}
		}
		// At the end only v2 answers, through both.
		for name, list := range targets {
			for _, tg := range list {
				client := hostClient(tg.from, 5*time.Second)
				var last []string
				waitFor(t, 15*time.Second, "only v2 through the "+name+" at "+tg.url+" from "+tg.from.Name, func() (bool, string) {
					last = nil
					for range 10 {
						body, err := getOK(client, tg.url, tg.host)
						v, _, _ := parseDemo(body)
						if err != nil || v != "v2" {
							last = append(last, fmt.Sprintf("%q %v", strings.TrimSpace(body), err))
						}
					}
					return len(last) == 0, strings.Join(last, "\n")
				})
			}
		}
		c.waitPods(t, ns, "app=web", 4)
	})
}

// peerAddr parses the probe pods' "peer=ADDRESS" answer (busybox httpd
// writes IPv4 clients as [::ffff:A.B.C.D]).
func peerAddr(out string) netip.Addr {
	s, ok := strings.CutPrefix(strings.TrimSpace(out), "peer=")
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// createService creates a Service of type typ for the web pods (port 80
// to their http port), changed by edit, and returns it.
func (c *cluster) createService(t *testing.T, ns, name string, typ corev1.ServiceType, edit func(*corev1.Service)) *corev1.Service {
	t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if edit != nil {
		edit(s)
	}
	out, err := c.client.CoreV1().Services(ns).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service %s: %v", name, err)
	}
	return out
}

// tally counts demo answers (one a line) by node and pod; lines that are
// no answer of a known pod are returned as bad.
func tally(out string, nodeOf map[string]string) (byNode, byPod map[string]int, bad []string) {
	byNode, byPod = map[string]int{}, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, pod, ok := parseDemo(line)
		if !ok || nodeOf[pod] == "" {
			bad = append(bad, line)
			continue
		}
		byNode[nodeOf[pod]]++
		byPod[pod]++
	}
	return byNode, byPod, bad
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// nslookupAddr is an address line of busybox nslookup's answer section.
var nslookupAddr = regexp.MustCompile(`(?m)^Address:\s*(\S+)\s*$`)

// tryNslookup resolves name (type A) in a pod with busybox nslookup and
// returns the sorted addresses of the answer (nil on failure).
func tryNslookup(c *cluster, ns, pod, name string) []string {
	r := c.kubectlRun(nil, "exec", "-n", ns, pod, "--", "nslookup", "-type=a", name)
	// The server's own address comes first, before a blank line.
	_, answer, ok := strings.Cut(r.stdout, "\n\n")
	if !ok {
		return nil
	}
	var addrs []string
	for _, m := range nslookupAddr.FindAllStringSubmatch(answer, -1) {
		addrs = append(addrs, m[1])
	}
	sort.Strings(addrs)
	return addrs
}

// nslookup is tryNslookup that fails the test when nothing resolves.
func nslookup(t *testing.T, c *cluster, ns, pod, name string) []string {
	t.Helper()
	addrs := tryNslookup(c, ns, pod, name)
	if len(addrs) == 0 {
		r := c.kubectlRun(nil, "exec", "-n", ns, pod, "--", "nslookup", "-type=a", name)
		t.Fatalf("nslookup %s in %s: no address\n%s", name, pod, r)
	}
	return addrs
}
