package nodeipam

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func mustSet(t *testing.T, cluster string, mask int) *cidrSet {
	t.Helper()
	s, err := newCIDRSet(netip.MustParsePrefix(cluster), mask)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewCIDRSetLimits(t *testing.T) {
	for _, tt := range []struct {
		cluster string
		mask    int
		ok      bool
		size    int
	}{
		{"10.42.0.0/16", 24, true, 256},
		{"10.42.0.0/16", 16, true, 1},
		{"10.42.0.0/16", 30, true, 16384},
		{"10.42.0.0/16", 15, false, 0},
		{"10.42.0.0/16", 31, false, 0},
		{"10.0.0.0/8", 24, true, 65536},
		{"10.0.0.0/8", 25, false, 0},
		{"fd00:42::/48", 64, true, 65536},
		{"fd00:42::/56", 64, true, 256},
		{"fd00:42::/48", 127, false, 0},
	} {
		s, err := newCIDRSet(netip.MustParsePrefix(tt.cluster), tt.mask)
		if (err == nil) != tt.ok {
			t.Errorf("%s /%d: err %v, want ok=%v", tt.cluster, tt.mask, err, tt.ok)
			continue
		}
		if err == nil && s.size() != tt.size {
			t.Errorf("%s /%d: %d blocks, want %d", tt.cluster, tt.mask, s.size(), tt.size)
		}
	}
}

func TestBlock(t *testing.T) {
	for _, tt := range []struct {
		cluster string
		mask, i int
		want    string
	}{
		{"10.42.0.0/16", 24, 0, "10.42.0.0/24"},
		{"10.42.0.0/16", 24, 1, "10.42.1.0/24"},
		{"10.42.0.0/16", 24, 255, "10.42.255.0/24"},
		{"10.42.0.0/16", 26, 5, "10.42.1.64/26"},
		{"10.0.0.0/8", 24, 65535, "10.255.255.0/24"},
		{"fd00:42::/48", 64, 1, "fd00:42:0:1::/64"},
		{"fd00:42::/48", 64, 0xabcd, "fd00:42:0:abcd::/64"},
		{"fd00::/56", 72, 0x1ff, "fd00:0:0:1:ff00::/72"},
		{"fd00::/60", 68, 3, "fd00::3000:0:0:0/68"},
	} {
		s := mustSet(t, tt.cluster, tt.mask)
		if got := s.block(tt.i).String(); got != tt.want {
			t.Errorf("%s /%d block %d = %s, want %s", tt.cluster, tt.mask, tt.i, got, tt.want)
		}
		// span is block's inverse.
		if first, last, ok := s.span(s.block(tt.i)); !ok || first != tt.i || last != tt.i {
			t.Errorf("span(%s) = %d..%d %v, want %d", s.block(tt.i), first, last, ok, tt.i)
		}
	}
}

func TestSpan(t *testing.T) {
	s := mustSet(t, "10.42.0.0/16", 24)
	for _, tt := range []struct {
		prefix      string
		first, last int
		ok          bool
	}{
		{"10.42.7.0/24", 7, 7, true},
		{"10.42.7.128/25", 7, 7, true},  // smaller: the block around it
		{"10.42.8.0/23", 8, 9, true},    // larger: every block it covers
		{"10.42.7.9/24", 7, 7, true},    // host bits ignored
		{"10.0.0.0/8", 0, 255, true},    // covers the whole cluster CIDR
		{"10.43.0.0/24", 0, 0, false},   // outside
		{"192.168.1.0/24", 0, 0, false}, // outside
		{"fd00:42::/64", 0, 0, false},   // other family
	} {
		first, last, ok := s.span(netip.MustParsePrefix(tt.prefix))
		if ok != tt.ok || (ok && (first != tt.first || last != tt.last)) {
			t.Errorf("span(%s) = %d..%d %v, want %d..%d %v", tt.prefix, first, last, ok, tt.first, tt.last, tt.ok)
		}
	}
	if _, _, ok := s.span(netip.Prefix{}); ok {
		t.Error("invalid prefix spans blocks")
	}
}

func TestAllocateGoesRoundAndFills(t *testing.T) {
	s := mustSet(t, "10.42.0.0/22", 24) // 4 blocks
	s.hold(1, 1)                        // a node that came with 10.42.1.0/24
	var got []int
	for {
		i, err := s.allocate()
		if errors.Is(err, errFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	if want := []int{0, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("allocated %v, want %v", got, want)
	}
	if s.free() != 0 {
		t.Fatalf("free = %d after filling", s.free())
	}
	// Released blocks come back, the search going on from the last one.
	s.release(0, 0)
	s.release(2, 2)
	if i, _ := s.allocate(); i != 0 {
		t.Errorf("after wrapping allocated %d, want 0", i)
	}
	if i, _ := s.allocate(); i != 2 {
		t.Errorf("allocated %d, want 2", i)
	}
}

func TestHoldCountsHolders(t *testing.T) {
	s := mustSet(t, "10.42.0.0/22", 24)
	s.hold(0, 1) // a /23
	s.hold(1, 1) // another node with an overlapping /24
	if s.free() != 2 {
		t.Fatalf("free = %d, want 2", s.free())
	}
	s.release(0, 1)
	if s.free() != 3 || s.refs[1] != 1 {
		t.Fatalf("free = %d refs %v: block 1 still held by the other node", s.free(), s.refs)
	}
	s.release(1, 1)
	s.release(1, 1) // releasing twice does not go below zero
	if s.free() != 4 {
		t.Fatalf("free = %d, want 4", s.free())
	}
}
