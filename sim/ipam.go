package sim

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// blocks splits an IPv4 range into equal blocks, as the node IPAM
// controller splits the cluster CIDR into node pod CIDRs.
type blocks struct {
	base  uint32
	bits  int // prefix length of each block
	count uint64
}

func newBlocks(cidr string, bits int) (blocks, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return blocks{}, fmt.Errorf("parse %q: %w", cidr, err)
	}
	if !p.Addr().Is4() {
		return blocks{}, fmt.Errorf("%s: only IPv4 ranges are supported", cidr)
	}
	if bits < p.Bits() || bits > 32 {
		return blocks{}, fmt.Errorf("%s: blocks of /%d do not fit in it", cidr, bits)
	}
	p = p.Masked()
	return blocks{base: ip4(p.Addr()), bits: bits, count: 1 << (bits - p.Bits())}, nil
}

// block returns the i-th block.
func (b blocks) block(i int) (netip.Prefix, error) {
	if i < 0 || uint64(i) >= b.count {
		return netip.Prefix{}, fmt.Errorf("range %s has room for %d blocks of /%d, not %d",
			netip.PrefixFrom(addr4(b.base), b.bits-bitsLen(b.count)), b.count, b.bits, i+1)
	}
	return netip.PrefixFrom(addr4(b.base+uint32(i)<<(32-b.bits)), b.bits), nil
}

func bitsLen(n uint64) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// ipPool hands out the addresses of one node's pod CIDR, one per pod UID,
// round-robin (as CNI host-local does), skipping the network address, the
// gateway (.1) and the broadcast address.
type ipPool struct {
	prefix netip.Prefix
	mu     sync.Mutex
	base   uint32
	size   uint32
	next   uint32
	byUID  map[types.UID]uint32
	used   map[uint32]types.UID
}

func newIPPool(p netip.Prefix) *ipPool {
	p = p.Masked()
	return &ipPool{
		prefix: p,
		base:   ip4(p.Addr()),
		size:   1 << (32 - p.Bits()),
		next:   2,
		byUID:  map[types.UID]uint32{},
		used:   map[uint32]types.UID{},
	}
}

// allocate returns uid's address, picking a free one the first time.
func (p *ipPool) allocate(uid types.UID) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.byUID[uid]; ok {
		return addr4(p.base + off), nil
	}
	usable := p.size - 3
	for range usable {
		off := p.next
		p.next++
		if p.next > p.size-2 {
			p.next = 2
		}
		if _, taken := p.used[off]; !taken {
			p.used[off] = uid
			p.byUID[uid] = off
			return addr4(p.base + off), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free pod IP in %s (%d in use)", p.prefix, len(p.used))
}

// reserve records that uid already has addr (found in a pod's status). It
// reports whether addr belongs to the pool and was free or already uid's.
func (p *ipPool) reserve(uid types.UID, addr netip.Addr) bool {
	if !addr.Is4() || !p.prefix.Contains(addr) {
		return false
	}
	off := ip4(addr) - p.base
	if off < 2 || off > p.size-2 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if owner, taken := p.used[off]; taken {
		return owner == uid
	}
	if old, ok := p.byUID[uid]; ok {
		delete(p.used, old)
	}
	p.used[off] = uid
	p.byUID[uid] = off
	return true
}

// release frees uid's address, if it has one.
func (p *ipPool) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.byUID[uid]; ok {
		delete(p.byUID, uid)
		delete(p.used, off)
	}
}

// inUse is the number of addresses handed out.
func (p *ipPool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}
