package nodeipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// MaxSubnetBits bounds how many bits the node mask may add to the cluster
// prefix (2^16 node ranges), as Kubernetes' cidrset does.
const MaxSubnetBits = 16

// errFull is returned when every node range of the cluster CIDR is taken.
var errFull = errors.New("no node pod CIDR left in the cluster CIDR")

// cidrSet is the cluster CIDR cut into node ranges ("blocks") of one mask
// size, each with a count of the nodes holding it. A node's range that is
// larger than a block holds every block it covers; one that is smaller
// holds the block around it. It is not safe for concurrent use.
type cidrSet struct {
	cluster netip.Prefix
	mask    int
	// refs counts the holders of each block.
	refs []uint32
	// used is the number of blocks with holders.
	used int
	// next is where the search for a free block starts: allocation goes
	// round the range, as Kubernetes' does, so that a released range is
	// not handed out again at once.
	next int
}

// newCIDRSet cuts cluster into blocks of mask bits.
func newCIDRSet(cluster netip.Prefix, mask int) (*cidrSet, error) {
	if !cluster.IsValid() {
		return nil, errors.New("invalid cluster CIDR")
	}
	cluster = cluster.Masked()
	if mask < cluster.Bits() || mask > cluster.Addr().BitLen()-2 {
		return nil, fmt.Errorf("node mask size %d: want between the cluster CIDR's prefix length %d and %d", mask, cluster.Bits(), cluster.Addr().BitLen()-2)
	}
	if mask-cluster.Bits() > MaxSubnetBits {
		return nil, fmt.Errorf("node mask size %d: at most %d bits longer than the cluster CIDR's prefix length %d", mask, MaxSubnetBits, cluster.Bits())
	}
	return &cidrSet{cluster: cluster, mask: mask, refs: make([]uint32, 1<<(mask-cluster.Bits()))}, nil
}

// size is the number of blocks.
func (s *cidrSet) size() int { return len(s.refs) }

// free is the number of blocks without holders.
func (s *cidrSet) free() int { return len(s.refs) - s.used }

// shift is the number of host bits of a block.
func (s *cidrSet) shift() uint { return uint(s.cluster.Addr().BitLen() - s.mask) }

// block returns the i-th block.
func (s *cidrSet) block(i int) netip.Prefix {
	hi, lo := toU128(s.cluster.Addr())
	h, l := shl128(0, uint64(i), s.shift())
	return netip.PrefixFrom(fromU128(hi|h, lo|l, s.cluster.Addr().Is4()), s.mask)
}

// span returns the blocks a node range covers; ok is false when it does
// not overlap the cluster CIDR (or is of the other address family).
func (s *cidrSet) span(p netip.Prefix) (first, last int, ok bool) {
	p = p.Masked()
	if !p.IsValid() || p.Addr().Is4() != s.cluster.Addr().Is4() || !p.Overlaps(s.cluster) {
		return 0, 0, false
	}
	if p.Bits() <= s.cluster.Bits() {
		return 0, len(s.refs) - 1, true
	}
	hi, lo := toU128(p.Addr())
	_, idx := shr128(hi, lo, s.shift())
	first = int(idx & uint64(len(s.refs)-1))
	last = first
	if p.Bits() < s.mask {
		last = first + 1<<(s.mask-p.Bits()) - 1
	}
	return first, last, true
}

// allocate takes the next free block.
func (s *cidrSet) allocate() (int, error) {
	if s.used == len(s.refs) {
		return 0, errFull
	}
	for n := 0; n < len(s.refs); n++ {
		i := (s.next + n) % len(s.refs)
		if s.refs[i] == 0 {
			s.refs[i] = 1
			s.used++
			s.next = (i + 1) % len(s.refs)
			return i, nil
		}
	}
	return 0, errFull // unreachable: used counts the taken blocks
}

// hold adds a holder to blocks first..last.
func (s *cidrSet) hold(first, last int) {
	for i := first; i <= last; i++ {
		if s.refs[i] == 0 {
			s.used++
		}
		s.refs[i]++
	}
}

// release removes a holder from blocks first..last.
func (s *cidrSet) release(first, last int) {
	for i := first; i <= last; i++ {
		if s.refs[i] == 0 {
			continue
		}
		s.refs[i]--
		if s.refs[i] == 0 {
			s.used--
		}
	}
}

// 128-bit arithmetic on addresses: IPv4 addresses use the low 32 bits.

func toU128(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	if a.Is4() {
		v4 := a.As4()
		return 0, uint64(v4[0])<<24 | uint64(v4[1])<<16 | uint64(v4[2])<<8 | uint64(v4[3])
	}
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func fromU128(hi, lo uint64, is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)})
	}
	var b [16]byte
	for i := 7; i >= 0; i-- {
		b[i], b[8+i] = byte(hi), byte(lo)
		hi, lo = hi>>8, lo>>8
	}
	return netip.AddrFrom16(b)
}

func shl128(hi, lo uint64, n uint) (uint64, uint64) {
	switch {
	case n == 0:
		return hi, lo
	case n >= 64:
		return lo << (n - 64), 0
	default:
		return hi<<n | lo>>(64-n), lo << n
	}
}

func shr128(hi, lo uint64, n uint) (uint64, uint64) {
	switch {
	case n == 0:
		return hi, lo
	case n >= 64:
		return 0, hi >> (n - 64)
	default:
		return hi >> n, lo>>n | hi<<(64-n)
	}
}
