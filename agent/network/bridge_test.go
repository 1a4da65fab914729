package network_test

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"berth/agent/network"
	"berth/internal/testhosts"
)

func TestGateway(t *testing.T) {
	if got := network.Gateway(netip.MustParsePrefix("10.42.7.0/24")); got != netip.MustParsePrefix("10.42.7.1/24") {
		t.Errorf("gateway %s", got)
	}
}

// EnsureBridge makes the bridge with its gateway address, up; a second
// call changes nothing; a new pod CIDR replaces the old address.
func TestEnsureBridge(t *testing.T) {
	h := testhosts.New(t, 1, testhosts.Options{})[0]
	addrs := func() ([]string, bool, error) {
		l, err := netlink.LinkByName("pods0")
		if err != nil {
			return nil, false, err
		}
		list, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, false, err
		}
		var out []string
		for _, a := range list {
			out = append(out, a.IPNet.String())
		}
		return out, l.Attrs().Flags&1 != 0 && l.Type() == "bridge", nil
	}
	check := func(cidr, want string) {
		t.Helper()
		var got []string
		var up bool
		err := h.Do(func() error {
			if err := network.EnsureBridge("pods0", netip.MustParsePrefix(cidr)); err != nil {
				return err
			}
			var err error
			got, up, err = addrs()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != want || !up {
			t.Errorf("after EnsureBridge(%s): addresses %v, up bridge %v; want [%s], true", cidr, got, up, want)
		}
	}
	check("10.42.3.0/24", "10.42.3.1/24")
	check("10.42.3.0/24", "10.42.3.1/24")
	check("10.42.4.0/24", "10.42.4.1/24")
	if err := h.Do(func() error {
		return network.EnsureBridge("this-name-is-too-long", netip.MustParsePrefix("10.42.3.0/24"))
	}); err == nil {
		t.Error("a bridge name of 21 characters was accepted")
	}
}
