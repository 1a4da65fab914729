// Package allocator hands out the members of a range — ClusterIPs from the
// service CIDR, NodePorts from the node port range — recording each
// allocation as its own etcd key, created only if absent. Several API
// servers can therefore allocate from one range without ever handing out a
// member twice, and concurrent creates never collide.
package allocator

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors of allocation.
var (
	ErrAllocated  = errors.New("provided value is already allocated")
	ErrNotInRange = errors.New("provided value is not in the valid range")
	ErrFull       = errors.New("range is full")
)

// randomTries is how many random members AllocateNext tries before it
// lists the allocated ones to find a free one.
const randomTries = 8

// Range allocates members of a range of size members, indexed 0..size-1.
// Dynamic allocation prefers indexes from static on (the lower band is left
// for members users ask for by value, as Kubernetes does since 1.27).
type Range struct {
	client *clientv3.Client
	prefix string
	size   int
	static int
	member func(i int) string
	index  func(s string) (int, bool)
	// Describe is the range in error messages.
	Describe string
}

// NewIPRange returns the allocator of the addresses of an IPv4 or IPv6
// CIDR, without its network (and IPv4 broadcast) address.
func NewIPRange(client *clientv3.Client, prefix string, cidr netip.Prefix) (*Range, error) {
	cidr = cidr.Masked()
	bits := cidr.Addr().BitLen() - cidr.Bits()
	if bits < 2 {
		return nil, fmt.Errorf("service CIDR %s is too small", cidr)
	}
	if bits > 20 {
		bits = 20 // at most a million addresses are used
	}
	size := 1<<bits - 2
	base := cidr.Addr()
	r := &Range{
		client: client, prefix: prefix, size: size, Describe: cidr.String(),
		static: min(max(16, size/16), 256),
		member: func(i int) string { return addrAdd(base, i+1).String() },
		index: func(s string) (int, bool) {
			a, err := netip.ParseAddr(s)
			if err != nil || !cidr.Contains(a) {
				return 0, false
			}
			d := addrDiff(a, base) - 1
			return d, d >= 0 && d < size
		},
	}
	return r, nil
}

// NewPortRange returns the allocator of the ports first..last.
func NewPortRange(client *clientv3.Client, prefix string, first, last int) *Range {
	size := last - first + 1
	return &Range{
		client: client, prefix: prefix, size: size, Describe: fmt.Sprintf("%d-%d", first, last),
		static: min(max(16, size/32), 128),
		member: func(i int) string { return strconv.Itoa(first + i) },
		index: func(s string) (int, bool) {
			p, err := strconv.Atoi(s)
			return p - first, err == nil && p >= first && p <= last
		},
	}
}

// Contains reports whether member is in the range.
func (r *Range) Contains(member string) bool {
	_, ok := r.index(member)
	return ok
}

// Allocate records member for owner. Allocating a member again for the
// same owner succeeds.
func (r *Range) Allocate(ctx context.Context, member, owner string) error {
	if !r.Contains(member) {
		return ErrNotInRange
	}
	ok, err := r.claim(ctx, member, owner)
	if err != nil {
		return err
	}
	if !ok {
		return ErrAllocated
	}
	return nil
}

// Free reports whether member can be allocated (for dry runs).
func (r *Range) Free(ctx context.Context, member, owner string) (bool, error) {
	resp, err := r.client.Get(ctx, r.prefix+member)
	if err != nil {
		return false, err
	}
	return len(resp.Kvs) == 0 || string(resp.Kvs[0].Value) == owner, nil
}

// AllocateNext records a free member for owner and returns it. With record
// false (a dry run) it only finds one.
func (r *Range) AllocateNext(ctx context.Context, owner string, record bool) (string, error) {
	dynamic := r.size - r.static
	for i := 0; i < randomTries && dynamic > 0; i++ {
		m := r.member(r.static + rand.IntN(dynamic))
		if ok, err := r.try(ctx, m, owner, record); err != nil || ok {
			return m, err
		}
	}
	used, err := r.allocated(ctx)
	if err != nil {
		return "", err
	}
	// Scan from a random start in the dynamic band, then the static band.
	order := func(yield func(int) bool) {
		start := r.static
		if dynamic > 0 {
			start += rand.IntN(dynamic)
		}
		for i := start; i < r.size; i++ {
			if !yield(i) {
				return
			}
		}
		for i := r.static; i < start; i++ {
			if !yield(i) {
				return
			}
		}
		for i := 0; i < r.static; i++ {
			if !yield(i) {
				return
			}
		}
	}
	for i := range order {
		m := r.member(i)
		if used[m] {
			continue
		}
		if ok, err := r.try(ctx, m, owner, record); err != nil || ok {
			return m, err
		}
	}
	return "", ErrFull
}

func (r *Range) try(ctx context.Context, member, owner string, record bool) (bool, error) {
	if !record {
		return r.Free(ctx, member, owner)
	}
	return r.claim(ctx, member, owner)
}

// claim creates the member's key unless another owner holds it.
func (r *Range) claim(ctx context.Context, member, owner string) (bool, error) {
	key := r.prefix + member
	resp, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("allocate %s: %w", member, err)
	}
	if resp.Succeeded {
		return true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	return len(kvs) > 0 && string(kvs[0].Value) == owner, nil
}

// Release frees member if owner holds it.
func (r *Range) Release(ctx context.Context, member, owner string) error {
	key := r.prefix + member
	_, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", owner)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("release %s: %w", member, err)
	}
	return nil
}

// Owners returns every allocated member with its owner.
func (r *Range) Owners(ctx context.Context) (map[string]string, error) {
	resp, err := r.client.Get(ctx, r.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), r.prefix)] = string(kv.Value)
	}
	return out, nil
}

func (r *Range) allocated(ctx context.Context) (map[string]bool, error) {
	resp, err := r.client.Get(ctx, r.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), r.prefix)] = true
	}
	return out, nil
}

func addrAdd(a netip.Addr, n int) netip.Addr {
	b := new(big.Int).SetBytes(a.AsSlice())
	b.Add(b, big.NewInt(int64(n)))
	buf := make([]byte, len(a.AsSlice()))
	b.FillBytes(buf)
	out, _ := netip.AddrFromSlice(buf)
	return out
}

func addrDiff(a, base netip.Addr) int {
	x := new(big.Int).SetBytes(a.AsSlice())
	y := new(big.Int).SetBytes(base.AsSlice())
	return int(x.Sub(x, y).Int64())
}
