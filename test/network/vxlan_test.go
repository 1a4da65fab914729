package network

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"berth/internal/testhosts"
)

// TestVXLAN runs two nodes on different subnets joined by a router, with
// --network-mode vxlan: pods reach pods of the other node, with their own
// addresses, through the agents' VXLAN device.
func TestVXLAN(t *testing.T) {
	start := time.Now()
	c := startCluster(t, clusterOptions{agents: 2, mode: "vxlan", routed: true})
	h1, h2 := c.hosts[1], c.hosts[2]
	if h1.Prefix.Masked() == h2.Prefix.Masked() {
		t.Fatalf("the nodes share the subnet %s: want them routed", h1.Prefix.Masked())
	}
	n1, n2 := c.nodes[0], c.nodes[1]
	ns := c.namespace(t, "vx")
	c.apply(t, ns, probePod("probe-1", n1)+"---"+probePod("probe-2", n2))
	c.waitPods(t, ns, "app=probe", 2)
	t.Logf("cluster and pods ready in %v", time.Since(start).Round(time.Millisecond))
	probe1, probe2 := c.pod(t, ns, "probe-1"), c.pod(t, ns, "probe-2")

	// Each node's route to the other's pods goes through a VXLAN device.
	dev1 := vxlanRoute(t, c, h1, probe2.Status.PodIP)
	dev2 := vxlanRoute(t, c, h2, probe1.Status.PodIP)
	before1, before2 := txPackets(t, c, h1, dev1), txPackets(t, c, h2, dev2)
	for _, d := range []struct{ from, to string }{{"probe-1", probe2.Status.PodIP}, {"probe-2", probe1.Status.PodIP}} {
		from := probe1
		if d.from == "probe-2" {
			from = probe2
		}
		out := c.exec(t, ns, d.from, "wget", "-qO-", "http://"+d.to+":8081/cgi-bin/ip")
		if got := peerAddr(out); got.String() != from.Status.PodIP {
			t.Errorf("%s (%s) → %s: the server saw %q, want the client pod's address", d.from, from.Status.PodIP, d.to, strings.TrimSpace(out))
		}
	}
	after1, after2 := txPackets(t, c, h1, dev1), txPackets(t, c, h2, dev2)
	t.Logf("VXLAN devices %s on %s (tx packets %d → %d), %s on %s (%d → %d)", dev1, h1.Name, before1, after1, dev2, h2.Name, before2, after2)
	if after1 <= before1 || after2 <= before2 {
		t.Errorf("the pods' traffic did not go through the VXLAN devices: tx packets %s %d → %d, %s %d → %d", dev1, before1, after1, dev2, before2, after2)
	}
}

// vxlanRoute returns the device of h's route to ip, failing the test
// unless it is a VXLAN device.
func vxlanRoute(t *testing.T, c *cluster, h *testhosts.Host, ip string) string {
	t.Helper()
	route := c.run(t, h, "ip", "route", "get", ip)
	f := strings.Fields(route)
	dev := ""
	for i := range len(f) - 1 {
		if f[i] == "dev" {
			dev = f[i+1]
		}
	}
	var links []struct {
		Name     string `json:"ifname"`
		LinkInfo struct {
			Kind string `json:"info_kind"`
		} `json:"linkinfo"`
	}
	out := c.run(t, h, "ip", "-d", "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -d -j link show dev %s on %s: %v\n%s", dev, h.Name, err, out)
	}
	if links[0].LinkInfo.Kind != "vxlan" {
		t.Fatalf("on %s the route to the other node's pod %s is %q: device %s is a %q, want a vxlan device", h.Name, ip, strings.TrimSpace(route), dev, links[0].LinkInfo.Kind)
	}
	return dev
}

// txPackets is a device's count of sent packets.
func txPackets(t *testing.T, c *cluster, h *testhosts.Host, dev string) int {
	t.Helper()
	var links []struct {
		Stats struct {
			TX struct {
				Packets int `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	out := c.run(t, h, "ip", "-s", "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show dev %s: %v\n%s", dev, err, out)
	}
	return links[0].Stats.TX.Packets
}
