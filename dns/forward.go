package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// errNoUpstream is returned when no upstream gave an answer.
var errNoUpstream = errors.New("no upstream answered")

// forwarder sends questions outside the cluster domain to the upstream
// nameservers: over UDP, again over TCP when the answer is truncated, and
// to the next upstream when one fails. Each exchange runs in the
// goroutine of its query, so a slow upstream holds up nothing else.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	logger    *slog.Logger
	cache     *answerCache // nil: no cache
	// first is the upstream tried first: the last one that answered.
	first atomic.Uint32
}

// forward answers req through the upstreams; on failure it answers
// SERVFAIL. The answer carries req's ID and question.
func (f *forwarder) forward(ctx context.Context, req *mdns.Msg, tcp bool) *mdns.Msg {
	key, cacheable := cacheKey(req)
	var m *mdns.Msg
	if cacheable && f.cache != nil {
		m = f.cache.get(key)
	}
	if m == nil {
		var err error
		if m, err = f.exchange(ctx, req.Copy(), tcp); err != nil {
			fail := new(mdns.Msg)
			fail.SetRcode(req, mdns.RcodeServerFailure)
			fail.RecursionAvailable = true
			return fail
		}
		if cacheable && f.cache != nil {
			f.cache.put(key, m)
		}
	}
	m.Id = req.Id
	m.Question = req.Question
	if req.IsEdns0() == nil {
		// No OPT record for a client that sent none (RFC 6891 7).
		m.Extra = slices.DeleteFunc(m.Extra, func(rr mdns.RR) bool { return rr.Header().Rrtype == mdns.TypeOPT })
	}
	return m
}

// lookup asks the upstreams a recursive question of its own (to follow
// an ExternalName's CNAME).
func (f *forwarder) lookup(ctx context.Context, name string, qtype uint16) (*mdns.Msg, error) {
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(udpSize, false)
	key, _ := cacheKey(q)
	if f.cache != nil {
		if m := f.cache.get(key); m != nil {
			return m, nil
		}
	}
	m, err := f.exchange(ctx, q, false)
	if err != nil {
		return nil, err
	}
	if f.cache != nil {
		f.cache.put(key, m)
	}
	return m, nil
}

// exchange sends q (which it may change) to the upstreams in turn,
// starting with the one that answered last, and returns the first answer
// that is neither SERVFAIL nor REFUSED, else the last answer, else an
// error. A UDP answer with TC set is asked again over TCP.
func (f *forwarder) exchange(ctx context.Context, q *mdns.Msg, tcp bool) (*mdns.Msg, error) {
	n := len(f.upstreams)
	if n == 0 {
		return nil, fmt.Errorf("forward %s: %w: none configured", q.Question[0].Name, errNoUpstream)
	}
	start := int(f.first.Load()) % n
	var last *mdns.Msg
	var errs []error
	for i := range n {
		idx := (start + i) % n
		up := f.upstreams[idx]
		m, err := f.exchangeOne(ctx, q, up, tcp)
		if err != nil {
			f.logger.Debug("forward failed", "upstream", up, "name", q.Question[0].Name, "type", mdns.TypeToString[q.Question[0].Qtype], "err", err)
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		last = m
		if m.Rcode == mdns.RcodeServerFailure || m.Rcode == mdns.RcodeRefused {
			f.logger.Debug("forward failed", "upstream", up, "name", q.Question[0].Name, "rcode", mdns.RcodeToString[m.Rcode])
			continue
		}
		f.first.Store(uint32(idx))
		return m, nil
	}
	if last != nil {
		return last, nil
	}
	return nil, fmt.Errorf("forward %s: %w: %w", q.Question[0].Name, errNoUpstream, errors.Join(errs...))
}

// exchangeOne asks one upstream, over UDP then TCP if truncated, or over
// TCP only.
func (f *forwarder) exchangeOne(ctx context.Context, q *mdns.Msg, upstream string, tcp bool) (*mdns.Msg, error) {
	if !tcp {
		q.Id = mdns.Id()
		c := &mdns.Client{Net: "udp", Timeout: f.timeout, UDPSize: mdns.MaxMsgSize}
		m, _, err := c.ExchangeContext(ctx, q, upstream)
		if err != nil {
			return nil, fmt.Errorf("udp: %w", err)
		}
		if !m.Truncated {
			return m, nil
		}
	}
	q.Id = mdns.Id()
	c := &mdns.Client{Net: "tcp", Timeout: f.timeout}
	m, _, err := c.ExchangeContext(ctx, q, upstream)
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	return m, nil
}

// cacheKey identifies the answers a question may share: the name in lower
// case, type, class and the DNSSEC bits. Questions other than one plain
// query are not cached.
func cacheKey(m *mdns.Msg) (string, bool) {
	if len(m.Question) != 1 || m.Opcode != mdns.OpcodeQuery {
		return "", false
	}
	q := m.Question[0]
	do := false
	if opt := m.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	return fmt.Sprintf("%s/%d/%d/%t/%t/%t", asciiLower(q.Name), q.Qtype, q.Qclass, do, m.CheckingDisabled, m.RecursionDesired), true
}

// answerCache keeps forwarded answers for the least of their TTLs
// (negative ones for their SOA's minimum), at most maxTTL, and at most
// size of them.
type answerCache struct {
	size   int
	maxTTL time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	msg     *mdns.Msg
	stored  time.Time
	expires time.Time
}

func newAnswerCache(size int, maxTTL time.Duration) *answerCache {
	return &answerCache{size: size, maxTTL: maxTTL, now: time.Now, entries: map[string]cached{}}
}

// get returns a copy of a cached answer with its TTLs aged, or nil.
func (c *answerCache) get(key string) *mdns.Msg {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && !now.Before(e.expires) {
		delete(c.entries, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, section := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			h := rr.Header()
			if h.Rrtype == mdns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// put caches an answer if it may be: NOERROR or NXDOMAIN, not truncated,
// with a TTL.
func (c *answerCache) put(key string, m *mdns.Msg) {
	if m.Truncated || (m.Rcode != mdns.RcodeSuccess && m.Rcode != mdns.RcodeNameError) {
		return
	}
	ttl, ok := cacheTTL(m)
	if !ok {
		return
	}
	d := min(time.Duration(ttl)*time.Second, c.maxTTL)
	if d <= 0 {
		return
	}
	now := c.now()
	e := cached{msg: m.Copy(), stored: now, expires: now.Add(d)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		// Full: drop expired entries, else one at random.
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = e
}

// cacheTTL is how long an answer may be kept: the least TTL of its
// answer records, or for a negative answer that of its SOA (RFC 2308).
func cacheTTL(m *mdns.Msg) (uint32, bool) {
	if len(m.Answer) > 0 {
		ttl := m.Answer[0].Header().Ttl
		for _, rr := range m.Answer[1:] {
			ttl = min(ttl, rr.Header().Ttl)
		}
		return ttl, true
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl), true
		}
	}
	return 0, false
}
