package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/tools/cache"
)

// udpSize is the EDNS0 payload size the server advertises and uses
// upstream (the DNS flag day 2020 value).
const udpSize = 1232

// shutdownGrace bounds how long Run waits for queries in flight.
const shutdownGrace = 3 * time.Second

// Server is the cluster DNS server.
type Server struct {
	cfg    Config
	logger *slog.Logger
	zone   string // DOMAIN. in lower case
	ttl    uint32
	idx    *index
	fwd    *forwarder
	synced []cache.InformerSynced
	ready  chan struct{}
	// ctx is Run's context, the parent of forwarded exchanges.
	ctx context.Context

	mu    sync.Mutex
	addrs []net.Addr
}

var _ mdns.Handler = (*Server)(nil)

// New returns a server; it registers the Services and EndpointSlices
// informers, and their event handlers, on cfg.Informers.
func New(cfg Config) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	logger := cfg.Logger.With("component", "dns")
	upstreams := cfg.Upstreams
	if len(upstreams) == 0 {
		var err error
		if upstreams, err = resolvConfUpstreams(cfg.ResolvConf); err != nil {
			return nil, fmt.Errorf("dns: upstreams: %w", err)
		}
	}
	var self []netip.AddrPort
	for _, a := range cfg.Listen {
		if ap, err := parseHostPort(a); err == nil {
			self = append(self, ap)
		}
	}
	for _, pc := range cfg.PacketConns {
		if ap, ok := addrPortOf(pc.LocalAddr()); ok {
			self = append(self, ap)
		}
	}
	for _, l := range cfg.Listeners {
		if ap, ok := addrPortOf(l.Addr()); ok {
			self = append(self, ap)
		}
	}
	for _, a := range cfg.Exclude {
		if ap, err := parseHostPort(a); err == nil {
			self = append(self, ap)
		}
	}
	upstreams, dropped := withoutSelf(upstreams, self, localAddrs())
	if len(dropped) > 0 {
		logger.Warn("upstreams dropped: they are this server", "dropped", dropped)
	}
	if len(upstreams) == 0 {
		logger.Warn("no upstream nameservers: names outside the cluster domain will fail", "resolvConf", cfg.ResolvConf)
	}
	s := &Server{
		cfg:    cfg,
		logger: logger,
		zone:   cfg.Domain + ".",
		ttl:    uint32(cfg.TTL / time.Second),
		idx:    newIndex(cfg.Domain),
		ready:  make(chan struct{}),
		ctx:    context.Background(),
		fwd: &forwarder{
			upstreams: upstreams,
			timeout:   cfg.ForwardTimeout,
			logger:    logger,
		},
	}
	if cfg.CacheSize > 0 {
		s.fwd.cache = newAnswerCache(cfg.CacheSize, cfg.CacheMaxTTL)
	}
	services := cfg.Informers.Core().V1().Services().Informer()
	slices := cfg.Informers.Discovery().V1().EndpointSlices().Informer()
	svcReg, err := services.AddEventHandler(s.idx.serviceHandler())
	if err != nil {
		return nil, fmt.Errorf("dns: service handler: %w", err)
	}
	sliceReg, err := slices.AddEventHandler(s.idx.sliceHandler())
	if err != nil {
		return nil, fmt.Errorf("dns: endpointslice handler: %w", err)
	}
	// The registrations are synced once the handlers have seen every
	// object of the initial lists, so the index is complete.
	s.synced = []cache.InformerSynced{svcReg.HasSynced, sliceReg.HasSynced}
	return s, nil
}

// Upstreams are the nameservers names outside the domain go to, after
// the server's own addresses were dropped.
func (s *Server) Upstreams() []string { return append([]string(nil), s.fwd.upstreams...) }

// Ready is closed once the caches are synced and the server answers.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs are the addresses served on (UDP ones, then TCP ones, for each
// socket), known once Ready is closed.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Run opens the sockets, waits for the informers' caches, then serves
// until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	pcs, ls, err := s.listen()
	if err != nil {
		return err
	}
	var servers []*mdns.Server
	for _, pc := range pcs {
		servers = append(servers, &mdns.Server{PacketConn: pc, Handler: s, UDPSize: mdns.MaxMsgSize})
	}
	for _, l := range ls {
		servers = append(servers, &mdns.Server{Listener: l, Handler: s})
	}
	closeAll := func() {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, l := range ls {
			l.Close()
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		closeAll()
		return nil
	}
	s.ctx = ctx

	var started sync.WaitGroup
	started.Add(len(servers))
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = started.Done
		go func() { errc <- srv.ActivateAndServe() }()
	}
	go func() {
		started.Wait()
		close(s.ready)
	}()
	s.logger.Info("serving cluster dns", "domain", s.cfg.Domain, "addrs", s.Addrs(), "upstreams", s.fwd.upstreams)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("dns: serve: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, srv := range servers {
		if err := srv.ShutdownContext(shutdownCtx); err != nil && runErr == nil && ctx.Err() == nil {
			runErr = fmt.Errorf("dns: shutdown: %w", err)
		}
	}
	closeAll()
	return runErr
}

// listen opens the Listen addresses (UDP, then TCP on the same port) and
// adds the caller's sockets.
func (s *Server) listen() ([]net.PacketConn, []net.Listener, error) {
	pcs := append([]net.PacketConn(nil), s.cfg.PacketConns...)
	ls := append([]net.Listener(nil), s.cfg.Listeners...)
	fail := func(err error) ([]net.PacketConn, []net.Listener, error) {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, l := range ls {
			l.Close()
		}
		return nil, nil, err
	}
	for _, addr := range s.cfg.Listen {
		pc, l, err := listenPair(addr)
		if err != nil {
			return fail(fmt.Errorf("dns: listen %s: %w", addr, err))
		}
		pcs, ls = append(pcs, pc), append(ls, l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs = nil
	for _, pc := range pcs {
		s.addrs = append(s.addrs, pc.LocalAddr())
	}
	for _, l := range ls {
		s.addrs = append(s.addrs, l.Addr())
	}
	return pcs, ls, nil
}

// listenPair opens UDP and TCP sockets on one address; with port 0 both
// get the same free port.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// ServeDNS answers one query: names under the domain (and PTR names of
// cluster addresses) from the index, the rest through the upstreams.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	tcp := isTCP(w)
	var resp *mdns.Msg
	switch {
	case len(req.Question) != 1:
		resp = new(mdns.Msg)
		resp.SetRcode(req, mdns.RcodeFormatError)
	case req.Opcode != mdns.OpcodeQuery:
		resp = new(mdns.Msg)
		resp.SetRcode(req, mdns.RcodeNotImplemented)
	default:
		resp = s.answerQuery(req, tcp)
	}
	size := mdns.MaxMsgSize
	if !tcp {
		size = mdns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		}
	}
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		s.logger.Debug("write answer", "client", w.RemoteAddr(), "err", err)
	}
}

func (s *Server) answerQuery(req *mdns.Msg, tcp bool) *mdns.Msg {
	q := req.Question[0]
	lname := asciiLower(q.Name)
	if s.inZone(lname) {
		return s.authoritative(req, q)
	}
	if q.Qtype == mdns.TypePTR && q.Qclass == mdns.ClassINET {
		if resp := s.ptr(req, q, lname); resp != nil {
			return resp
		}
	}
	return s.fwd.forward(s.ctx, req, tcp)
}

// authoritative answers a question under the domain.
func (s *Server) authoritative(req *mdns.Msg, q mdns.Question) *mdns.Msg {
	resp := s.reply(req)
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	a := s.resolve(s.ctx, q.Name, q.Qtype, 0)
	resp.Rcode = a.rcode
	resp.Answer = a.answer
	resp.Extra = append(a.extra, resp.Extra...)
	if len(a.answer) == 0 || a.rcode == mdns.RcodeNameError {
		// NXDOMAIN or NODATA: the SOA tells how long to remember it.
		zone := q.Name[len(q.Name)-len(s.zone):]
		resp.Ns = []mdns.RR{s.soa(zone)}
	}
	return resp
}

// ptr answers a PTR question for the address of a Service or endpoint;
// nil when the address is none of the cluster's.
func (s *Server) ptr(req *mdns.Msg, q mdns.Question, lname string) *mdns.Msg {
	addr, ok := reverseAddr(lname)
	if !ok {
		return nil
	}
	names := s.idx.reverse(addr)
	if len(names) == 0 {
		return nil
	}
	resp := s.reply(req)
	for _, n := range names {
		resp.Answer = append(resp.Answer, &mdns.PTR{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: s.ttl}, Ptr: n})
	}
	return resp
}

// reply starts an authoritative answer to req, with an OPT record if req
// had one.
func (s *Server) reply(req *mdns.Msg) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(udpSize, opt.Do())
	}
	return resp
}

// isTCP tells whether the query came over TCP.
func isTCP(w mdns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}
