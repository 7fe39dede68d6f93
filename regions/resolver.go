package regions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// defaultLookupTimeout bounds one lookup when ResolverOptions.Timeout is 0.
const defaultLookupTimeout = 2 * time.Second

// ResolverOptions configures a client-side Resolver.
type ResolverOptions struct {
	// Server is the lab DNS address ("127.0.0.1:PORT"); every query goes
	// there, whatever /etc/resolv.conf says.
	Server string
	// IgnoreTTL keeps serving the first answer for a name forever (the
	// "stale client caches" fault). SetIgnoreTTL changes it later.
	IgnoreTTL bool
	// Timeout bounds one lookup; 0 means 2s.
	Timeout time.Duration
	// Dial opens connections for DialContext once a name is resolved; nil
	// means a plain net.Dialer. The lab passes Network.ClientDialer(region).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Resolver is a client's resolver: Go's own DNS client (net.Resolver with
// PreferGo) pointed at the lab DNS, with a cache that keeps each answer for
// the TTL the server gave (the smallest TTL among its A/AAAA records), and
// asks again only after it expires; net.Resolver does not expose TTLs, so
// the resolver reads them from the DNS replies on their way in. Empty answers
// and errors are not cached. It is safe for concurrent use.
type Resolver struct {
	opts ResolverOptions

	mu        sync.Mutex
	ignoreTTL bool
	cache     map[string]cachedAnswer
	inflight  map[string]*lookupCall // lookups under way, shared by concurrent callers
}

// lookupCall is one query to the lab DNS that every caller asking for the name meanwhile waits for.
type lookupCall struct {
	done  chan struct{}
	addrs []netip.Addr
	err   error
}

type cachedAnswer struct {
	addrs   []netip.Addr
	expires time.Time
}

// NewResolver returns a resolver that asks the lab DNS at opts.Server.
func NewResolver(opts ResolverOptions) (*Resolver, error) {
	if err := checkLoopbackAddr(opts.Server); err != nil {
		return nil, fmt.Errorf("new resolver: dns server: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultLookupTimeout
	}
	return &Resolver{opts: opts, ignoreTTL: opts.IgnoreTTL, cache: map[string]cachedAnswer{}, inflight: map[string]*lookupCall{}}, nil
}

// SetIgnoreTTL turns the stale-cache behaviour on or off. Turning it off
// lets entries that have outlived their TTL expire at the next lookup.
func (r *Resolver) SetIgnoreTTL(ignore bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ignoreTTL = ignore
}

// Flush forgets every cached answer.
func (r *Resolver) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.cache)
}

// LookupHost returns host's addresses, from the cache while its TTL lasts
// (or forever when ignoring TTLs), else from the lab DNS. Concurrent lookups
// of one name share one query: when answers fail (say every region is out of
// pay.lab), clients retrying at once would otherwise each query the lab DNS,
// and such storms took a third of a starved lab's CPU (docs/PERFORMANCE.md).
// The sharing is golang.org/x/sync/singleflight's idea written out, because
// its Do cannot be left by a waiter whose context ends and its DoChan runs the
// call on a goroutine no one waits for; here the first caller runs the query.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	key := dns.Fqdn(host)
	r.mu.Lock()
	c, ok := r.cache[key]
	if ok && (r.ignoreTTL || time.Now().Before(c.expires)) {
		r.mu.Unlock()
		return c.addrs, nil
	}
	call, shared := r.inflight[key]
	if !shared {
		call = &lookupCall{done: make(chan struct{})}
		r.inflight[key] = call
	}
	r.mu.Unlock()
	if !shared {
		// The query outlives a caller that gives up: others may be waiting for it. It is bounded by
		// the lookup timeout.
		call.addrs, call.err = r.query(context.WithoutCancel(ctx), host, key)
		r.mu.Lock()
		delete(r.inflight, key)
		r.mu.Unlock()
		close(call.done)
	}
	select {
	case <-call.done:
		return call.addrs, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("resolve %s at %s: %w", host, r.opts.Server, ctx.Err())
	}
}

// waiting reports whether a lookup of key is under way (1) or not (0), for tests.
func (r *Resolver) waiting(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.inflight[key]; ok {
		return 1
	}
	return 0
}

// query asks the lab DNS for key and caches a non-empty answer for its TTL.
func (r *Resolver) query(ctx context.Context, host, key string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	ttl := &ttlCollector{}
	var d net.Dialer
	nr := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, r.opts.Server)
			if err != nil {
				return nil, err
			}
			return ttl.wrap(conn), nil
		},
	}
	start := time.Now()
	addrs, err := nr.LookupNetIP(ctx, "ip", key)
	if err != nil {
		return nil, fmt.Errorf("resolve %s at %s: %w", host, r.opts.Server, err)
	}
	if t, ok := ttl.min(); ok && len(addrs) > 0 {
		r.mu.Lock()
		r.cache[key] = cachedAnswer{addrs: addrs, expires: start.Add(t)}
		r.mu.Unlock()
	}
	return addrs, nil
}

// DialContext resolves addr's host through the cache and dials its
// addresses in answer order until one connects (for an http.Transport).
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	ips, err := r.LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("dial %s: no addresses for %s", addr, host)
	}
	dial := r.opts.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	var errs []error
	for _, ip := range ips {
		c, err := dial(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("dial %s: %w", addr, errors.Join(errs...))
}

// ttlCollector records the smallest A/AAAA TTL in the DNS replies read
// through the connections it wraps.
type ttlCollector struct {
	mu    sync.Mutex
	ttl   time.Duration
	found bool
}

func (c *ttlCollector) min() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ttl, c.found
}

func (c *ttlCollector) record(msg []byte) {
	var m dns.Msg
	if m.Unpack(msg) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rr := range m.Answer {
		t := rr.Header().Rrtype
		if t != dns.TypeA && t != dns.TypeAAAA {
			continue
		}
		ttl := time.Duration(rr.Header().Ttl) * time.Second
		if !c.found || ttl < c.ttl {
			c.ttl, c.found = ttl, true
		}
	}
}

// wrap returns conn with its reads observed. Go's resolver tells UDP from
// TCP by whether the conn is a net.PacketConn, so a UDP conn stays one.
func (c *ttlCollector) wrap(conn net.Conn) net.Conn {
	if pc, ok := conn.(*net.UDPConn); ok {
		return &ttlPacketConn{UDPConn: pc, c: c}
	}
	return &ttlStreamConn{Conn: conn, c: c}
}

// ttlPacketConn sees one DNS message per Read.
type ttlPacketConn struct {
	*net.UDPConn
	c *ttlCollector
}

func (p *ttlPacketConn) Read(b []byte) (int, error) {
	n, err := p.UDPConn.Read(b)
	if n > 0 {
		p.c.record(b[:n])
	}
	return n, err
}

// ttlStreamConn reassembles length-prefixed DNS messages from a TCP stream.
type ttlStreamConn struct {
	net.Conn
	c   *ttlCollector
	buf []byte
}

func (s *ttlStreamConn) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	s.buf = append(s.buf, b[:n]...)
	for len(s.buf) >= 2 {
		l := int(s.buf[0])<<8 | int(s.buf[1])
		if len(s.buf) < 2+l {
			break
		}
		s.c.record(s.buf[2 : 2+l])
		s.buf = s.buf[2+l:]
	}
	return n, err
}
