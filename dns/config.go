package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
)

// Defaults of Config.
const (
	DefaultDomain         = "cluster.local"
	DefaultResolvConf     = "/etc/resolv.conf"
	DefaultTTL            = 5 * time.Second
	DefaultForwardTimeout = 2 * time.Second
	DefaultCacheSize      = 10000
	DefaultCacheMaxTTL    = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	// Informers is the factory the Services and discovery/v1
	// EndpointSlices informers are taken from; New registers them on it
	// and the caller starts it. It must watch all namespaces without
	// label or field selectors. Required.
	Informers informers.SharedInformerFactory
	// Domain is the cluster domain the server is authoritative for.
	// Default "cluster.local".
	Domain string
	// Listen are host:port addresses to serve on, each over UDP and TCP
	// (e.g. the bridge gateway "10.42.0.1:53"). With port 0 the UDP and
	// TCP sockets share one free port.
	Listen []string
	// PacketConns and Listeners are sockets opened by the caller (tests,
	// socket activation), served besides Listen. Run closes them.
	PacketConns []net.PacketConn
	Listeners   []net.Listener
	// Upstreams are the host:port nameservers names outside Domain are
	// forwarded to, in order of preference. Default: the nameservers of
	// ResolvConf (port 53).
	Upstreams []string
	// ResolvConf is read for the default Upstreams. Default
	// /etc/resolv.conf.
	ResolvConf string
	// Exclude are further addresses (host or host:port, port 53 if none)
	// that reach this server, such as the kube-dns Service's ClusterIP:
	// they are dropped from the upstreams like the server's own
	// addresses, so that a node whose resolv.conf points at the cluster
	// DNS does not loop.
	Exclude []string
	// TTL of the cluster records. Default 5s, as CoreDNS.
	TTL time.Duration
	// ForwardTimeout bounds one exchange with one upstream. Default 2s.
	ForwardTimeout time.Duration
	// CacheSize is how many forwarded answers are cached; negative
	// disables the cache. Default 10000.
	CacheSize int
	// CacheMaxTTL caps how long a forwarded answer is cached (the records'
	// TTLs cap it further). Default 30s, as CoreDNS's default Corefile.
	CacheMaxTTL time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	c.Domain = strings.ToLower(strings.TrimSuffix(c.Domain, "."))
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.ForwardTimeout == 0 {
		c.ForwardTimeout = DefaultForwardTimeout
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CacheMaxTTL == 0 {
		c.CacheMaxTTL = DefaultCacheMaxTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports what is wrong with a defaulted Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Informers == nil {
		errs = append(errs, errors.New("informers: required"))
	}
	if msgs := validation.IsDNS1123Subdomain(c.Domain); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("domain %q: %s", c.Domain, strings.Join(msgs, "; ")))
	}
	if len(c.Listen) == 0 && len(c.PacketConns) == 0 && len(c.Listeners) == 0 {
		errs = append(errs, errors.New("listen: no address to serve on"))
	}
	for _, a := range c.Listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %w", a, err))
		}
	}
	for _, a := range c.Upstreams {
		if _, err := netip.ParseAddrPort(a); err != nil {
			errs = append(errs, fmt.Errorf("upstream %q: %w", a, err))
		}
	}
	for _, a := range c.Exclude {
		if _, err := parseHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("exclude %q: %w", a, err))
		}
	}
	if c.TTL < time.Second || c.TTL > 3600*time.Second {
		errs = append(errs, fmt.Errorf("ttl %s: must be between 1s and 1h", c.TTL))
	}
	if c.ForwardTimeout < 0 {
		errs = append(errs, fmt.Errorf("forward timeout %s: must be positive", c.ForwardTimeout))
	}
	if c.CacheMaxTTL < 0 {
		errs = append(errs, fmt.Errorf("cache max ttl %s: must be positive", c.CacheMaxTTL))
	}
	return errors.Join(errs...)
}

// parseHostPort parses "ip", "ip:port" or "[ip6]:port"; the port is 53
// when absent.
func parseHostPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, 53), nil
}

// resolvConfUpstreams returns the nameservers of a resolv.conf file as
// ip:53 addresses.
func resolvConfUpstreams(path string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var out []string
	for _, s := range cc.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue // not an IP address: resolvers ignore it too
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), 53).String())
	}
	return out, nil
}

// withoutSelf drops from upstreams every address that is self: a listen
// address of this server (an unspecified host standing for all of
// localAddrs) or an excluded one. It returns the kept and dropped ones.
func withoutSelf(upstreams []string, self []netip.AddrPort, localAddrs []netip.Addr) (kept, dropped []string) {
	isSelf := func(ap netip.AddrPort) bool {
		for _, s := range self {
			if s.Port() != ap.Port() {
				continue
			}
			if s.Addr().Unmap() == ap.Addr().Unmap() {
				return true
			}
			if s.Addr().IsUnspecified() {
				for _, l := range localAddrs {
					if l.Unmap() == ap.Addr().Unmap() {
						return true
					}
				}
			}
		}
		return false
	}
	for _, u := range upstreams {
		ap, err := netip.ParseAddrPort(u)
		if err == nil && isSelf(ap) {
			dropped = append(dropped, u)
			continue
		}
		kept = append(kept, u)
	}
	return kept, dropped
}

// localAddrs lists the addresses of the host's interfaces.
func localAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// addrPortOf converts a socket address.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort(), true
	case *net.TCPAddr:
		return a.AddrPort(), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}
