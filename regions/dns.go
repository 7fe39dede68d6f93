package regions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Names the lab DNS serves.
const (
	// LabZone is the zone the lab DNS is authoritative for.
	LabZone = "lab."
	// PayName is the name clients resolve to reach the payment service.
	PayName = "pay.lab."
)

// dnsStartTimeout bounds how long StartDNS waits for its servers to run.
const dnsStartTimeout = 5 * time.Second

// DNSRegion is one region as the lab DNS knows it: the address of its entry
// point and its weight.
type DNSRegion struct {
	Name   string
	IP     netip.Addr
	Weight int
}

// DNSConfig configures the lab DNS server.
type DNSConfig struct {
	// Addr is the loopback address to serve on, UDP and TCP on the same port;
	// "127.0.0.1:0" (the default) picks a free port.
	Addr string
	// TTL of every answer (whole seconds).
	TTL time.Duration
	// Regions answered for pay.lab., all healthy at start.
	Regions []DNSRegion
	// Seed of the weighted shuffle, so a run's answer order repeats.
	Seed uint64
}

// DNSConfigFor builds the DNS configuration of a topology: every region's
// entry IP (127.0.1.N) with its weight, and the topology's TTL.
func DNSConfigFor(topo Topology, seed uint64) DNSConfig {
	cfg := DNSConfig{Addr: "127.0.0.1:0", TTL: topo.DNS.TTL, Seed: seed}
	for _, r := range topo.Regions {
		ip, _ := topo.EntryIP(r.Name)
		cfg.Regions = append(cfg.Regions, DNSRegion{Name: r.Name, IP: ip, Weight: r.EffectiveWeight()})
	}
	return cfg
}

// DNSServer is the lab's authoritative DNS server for "lab.". It answers:
//
//   - pay.lab. A: one record per region that is healthy and not removed, in a
//     weighted random order: a region of weight w comes first in w/Σw of the
//     answers (each record's sort key is u^(1/w), u uniform in (0,1), drawn
//     from a seeded RNG; Efraimidis–Spirakis). Clients use the first record,
//     so weights split new clients between regions. With no region left the
//     answer is empty (NOERROR, the SOA in authority), not an outage of DNS.
//   - <region>.pay.lab. A: that region's entry point, whatever its health
//     (for people poking the lab with dig).
//   - lab. SOA and NS; NXDOMAIN with the SOA for other names in lab.;
//     REFUSED for names outside lab.
//
// Faults switch it to SERVFAIL or slow answers and remove regions. It is safe
// for concurrent use.
type DNSServer struct {
	addr string
	ttl  uint32
	udp  *dns.Server
	tcp  *dns.Server
	done chan struct{} // closed by Close: aborts delayed answers
	wg   sync.WaitGroup

	queries atomic.Int64

	mu        sync.Mutex
	regions   []*dnsRegion
	servfail  bool
	delay     time.Duration
	rng       *rand.Rand
	closeOnce sync.Once
	closeErr  error
}

type dnsRegion struct {
	DNSRegion
	healthy bool // set by the health checker
	removed bool // set by a fault
}

// StartDNS starts the lab DNS server on UDP and TCP and returns once both
// serve.
func StartDNS(cfg DNSConfig) (*DNSServer, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if err := checkLoopbackAddr(cfg.Addr); err != nil {
		return nil, fmt.Errorf("start dns: %w", err)
	}
	if cfg.TTL < time.Second || cfg.TTL%time.Second != 0 || cfg.TTL.Seconds() > math.MaxInt32 {
		return nil, fmt.Errorf("start dns: ttl %v, want whole seconds, at least 1s", cfg.TTL)
	}
	s := &DNSServer{
		ttl:  uint32(cfg.TTL / time.Second),
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	for _, r := range cfg.Regions {
		if !r.IP.Is4() || !r.IP.IsLoopback() {
			return nil, fmt.Errorf("start dns: region %s at %v: %w", r.Name, r.IP, ErrNotLoopback)
		}
		if r.Weight < 1 {
			return nil, fmt.Errorf("start dns: region %s: weight %d, want at least 1", r.Name, r.Weight)
		}
		s.regions = append(s.regions, &dnsRegion{DNSRegion: r, healthy: true})
	}
	pc, ln, err := listenUDPAndTCP(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("start dns: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	mux := dns.NewServeMux()
	mux.HandleFunc(".", s.serve)
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: mux, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: mux, NotifyStartedFunc: notify}
	errs := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Go(func() { errs <- srv.ActivateAndServe() })
	}
	timeout := time.NewTimer(dnsStartTimeout)
	defer timeout.Stop()
	for range 2 {
		select {
		case <-started:
		case err := <-errs:
			_ = pc.Close()
			_ = ln.Close()
			s.wg.Wait()
			return nil, fmt.Errorf("start dns on %s: %w", s.addr, err)
		case <-timeout.C:
			_ = pc.Close()
			_ = ln.Close()
			s.wg.Wait()
			return nil, fmt.Errorf("start dns on %s: not serving after %v", s.addr, dnsStartTimeout)
		}
	}
	return s, nil
}

// listenUDPAndTCP binds UDP and TCP on the same loopback port, trying a few
// ports when addr asks for any.
func listenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 8 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = fmt.Errorf("listen tcp %s: %w", pc.LocalAddr(), err)
		if !strings.HasSuffix(addr, ":0") {
			break
		}
	}
	return nil, nil, lastErr
}

// Addr is the server's "127.0.0.1:PORT" (UDP and TCP).
func (s *DNSServer) Addr() string { return s.addr }

// Port is the server's port (for `dig @127.0.0.1 -p PORT pay.lab`).
func (s *DNSServer) Port() int { return int(netip.MustParseAddrPort(s.addr).Port()) }

// Queries is how many queries the server has received.
func (s *DNSServer) Queries() int64 { return s.queries.Load() }

func (s *DNSServer) region(name string) (*dnsRegion, error) {
	for _, r := range s.regions {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("dns: no region %q", name)
}

// SetHealthy records the health checker's verdict on a region.
func (s *DNSServer) SetHealthy(region string, healthy bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.region(region)
	if err != nil {
		return err
	}
	r.healthy = healthy
	return nil
}

// RemoveRegion takes a region out of pay.lab. answers whatever its health
// (the "region removed" fault); RestoreRegion undoes it.
func (s *DNSServer) RemoveRegion(region string) error { return s.setRemoved(region, true) }

// RestoreRegion puts a removed region back (answered again when healthy).
func (s *DNSServer) RestoreRegion(region string) error { return s.setRemoved(region, false) }

func (s *DNSServer) setRemoved(region string, removed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.region(region)
	if err != nil {
		return err
	}
	r.removed = removed
	return nil
}

// SetServfail makes every answer SERVFAIL (on) or normal again (off).
func (s *DNSServer) SetServfail(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail = on
}

// SetDelay makes the server wait d before each answer (0: answer at once).
// Close cuts a pending wait short.
func (s *DNSServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = max(d, 0)
}

// Answering returns the regions pay.lab. currently answers with, in
// topology order.
func (s *DNSServer) Answering() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.regions {
		if r.healthy && !r.removed {
			out = append(out, r.Name)
		}
	}
	return out
}

// payAnswer returns the entry IPs of answering regions in weighted random
// order.
func (s *DNSServer) payAnswer() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	type keyed struct {
		ip  netip.Addr
		key float64
	}
	var ks []keyed
	for _, r := range s.regions {
		if r.healthy && !r.removed {
			u := 1 - s.rng.Float64() // (0, 1]
			ks = append(ks, keyed{ip: r.IP, key: math.Pow(u, 1/float64(r.Weight))})
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		switch {
		case a.key > b.key:
			return -1
		case a.key < b.key:
			return 1
		}
		return 0
	})
	out := make([]netip.Addr, len(ks))
	for i, k := range ks {
		out[i] = k.ip
	}
	return out
}

func (s *DNSServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	s.mu.Lock()
	servfail, delay := s.servfail, s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return
		}
	}
	m := new(dns.Msg)
	m.SetReply(req)
	if servfail || len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(LabZone, name) {
		m.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	var ips []netip.Addr
	known := true
	switch {
	case name == PayName:
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			ips = s.payAnswer() // only these draw from the RNG, so a seed's order repeats
		}
	case name == LabZone:
		switch q.Qtype {
		case dns.TypeSOA, dns.TypeANY:
			m.Answer = append(m.Answer, s.soa())
		case dns.TypeNS:
			m.Answer = append(m.Answer, &dns.NS{Hdr: s.hdr(LabZone, dns.TypeNS), Ns: "ns." + LabZone})
		}
	case name == "ns."+LabZone:
		ips = []netip.Addr{netip.MustParseAddrPort(s.addr).Addr()}
	default:
		known = false
		region := strings.TrimSuffix(name, "."+PayName)
		s.mu.Lock()
		for _, r := range s.regions {
			if region != name && r.Name == region {
				ips, known = []netip.Addr{r.IP}, true
			}
		}
		s.mu.Unlock()
	}
	if !known {
		m.SetRcode(req, dns.RcodeNameError)
	}
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: s.hdr(q.Name, dns.TypeA), A: ip.AsSlice()})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, s.soa()) // negative answers carry the SOA (RFC 2308)
	}
	_ = w.WriteMsg(m)
}

func (s *DNSServer) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.ttl}
}

func (s *DNSServer) soa() *dns.SOA {
	return &dns.SOA{Hdr: s.hdr(LabZone, dns.TypeSOA), Ns: "ns." + LabZone, Mbox: "hostmaster." + LabZone,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: s.ttl}
}

// Close stops both servers, cutting pending slow answers short, and waits
// for them.
func (s *DNSServer) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if err := srv.ShutdownContext(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		s.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close dns server %s: %w", s.addr, err)
		}
	})
	return s.closeErr
}
