package sim

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestBlocks(t *testing.T) {
	for _, tc := range []struct {
		cidr    string
		bits, i int
		want    string // block, or error text
	}{
		{"10.42.0.0/16", 24, 0, "10.42.0.0/24"},
		{"10.42.0.0/16", 24, 255, "10.42.255.0/24"},
		{"10.42.0.0/16", 24, 256, "room for 256 blocks"},
		{"10.42.7.9/16", 24, 3, "10.42.3.0/24"},
		{"10.64.0.0/10", 24, 1000, "10.67.232.0/24"},
		{"172.20.0.0/16", 32, 1, "172.20.0.1/32"},
		{"10.42.0.0/16", 26, 5, "10.42.1.64/26"},
		{"10.42.0.0/16", 8, 0, "do not fit"},
		{"fd00::/64", 80, 0, "only IPv4"},
		{"nonsense", 24, 0, "parse"},
	} {
		t.Run(fmt.Sprintf("%s/%d/%d", tc.cidr, tc.bits, tc.i), func(t *testing.T) {
			b, err := newBlocks(tc.cidr, tc.bits)
			var got string
			if err == nil {
				var p netip.Prefix
				p, err = b.block(tc.i)
				got = p.String()
			}
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIPPool(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.1.2.0/29")) // .2 to .6 usable
	got := map[string]types.UID{}
	for i := range 5 {
		uid := types.UID(fmt.Sprint("pod-", i))
		ip, err := p.allocate(uid)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := p.allocate(uid); again != ip {
			t.Errorf("%s: second allocation %s, first %s", uid, again, ip)
		}
		if _, dup := got[ip.String()]; dup {
			t.Errorf("%s handed out twice", ip)
		}
		got[ip.String()] = uid
	}
	for _, reserved := range []string{"10.1.2.0", "10.1.2.1", "10.1.2.7"} {
		if _, ok := got[reserved]; ok {
			t.Errorf("handed out %s", reserved)
		}
	}
	if _, err := p.allocate("pod-x"); err == nil || !strings.Contains(err.Error(), "no free pod IP") {
		t.Errorf("full pool: err %v", err)
	}
	p.release("pod-1")
	ip, err := p.allocate("pod-x")
	if err != nil || got[ip.String()] != "pod-1" {
		t.Errorf("after release: %s %v, want pod-1's address", ip, err)
	}
	if p.inUse() != 5 {
		t.Errorf("in use %d, want 5", p.inUse())
	}

	q := newIPPool(netip.MustParsePrefix("10.1.3.0/24"))
	for _, tc := range []struct {
		uid  types.UID
		ip   string
		want bool
	}{
		{"a", "10.1.3.9", true},
		{"a", "10.1.3.9", true},  // again, same owner
		{"b", "10.1.3.9", false}, // taken
		{"b", "10.1.4.9", false}, // another block
		{"b", "10.1.3.1", false}, // gateway
		{"b", "10.1.3.255", false},
		{"b", "10.1.3.2", true},
	} {
		if got := q.reserve(tc.uid, netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("reserve(%s, %s) = %v, want %v", tc.uid, tc.ip, got, tc.want)
		}
	}
	// Allocation goes round-robin and skips reserved addresses.
	ip, _ = q.allocate("c")
	if ip.String() != "10.1.3.3" {
		t.Errorf("next allocation %s, want 10.1.3.3", ip)
	}
}
