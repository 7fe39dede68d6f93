package regions

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var (
	usEastIP = netip.MustParseAddr("127.0.1.1")
	euWestIP = netip.MustParseAddr("127.0.1.2")
)

func startTestDNS(t *testing.T, ttl time.Duration, usWeight, euWeight int) *DNSServer {
	t.Helper()
	s, err := StartDNS(DNSConfig{TTL: ttl, Seed: 1, Regions: []DNSRegion{
		{Name: "us-east", IP: usEastIP, Weight: usWeight},
		{Name: "eu-west", IP: euWestIP, Weight: euWeight},
	}})
	if err != nil {
		t.Fatalf("StartDNS: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func query(t *testing.T, s *DNSServer, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: patience}
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func answerIPs(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			ip, _ := netip.AddrFromSlice(a.A.To4())
			out = append(out, ip)
		}
	}
	return out
}

func sortedIPs(ips []netip.Addr) []netip.Addr {
	out := slices.Clone(ips)
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

func TestDNSAnswersPayLabOverUDPAndTCP(t *testing.T) {
	s := startTestDNS(t, 2*time.Second, 1, 1)
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, s, network, "pay.lab.", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Errorf("%s: rcode %s, authoritative %v", network, dns.RcodeToString[r.Rcode], r.Authoritative)
		}
		if got := sortedIPs(answerIPs(r)); !slices.Equal(got, []netip.Addr{usEastIP, euWestIP}) {
			t.Errorf("%s: pay.lab. = %v, want both entry points", network, got)
		}
		for _, rr := range r.Answer {
			if rr.Header().Ttl != 2 {
				t.Errorf("%s: TTL %d, want 2", network, rr.Header().Ttl)
			}
		}
	}
	cases := []struct {
		name  string
		qtype uint16
		rcode int
		ips   []netip.Addr
	}{
		{"eu-west.pay.lab.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{euWestIP}},
		{"PAY.lab.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"nope.lab.", dns.TypeA, dns.RcodeNameError, nil},
		{"example.com.", dns.TypeA, dns.RcodeRefused, nil},
	}
	for _, tc := range cases {
		r := query(t, s, "udp", tc.name, tc.qtype)
		if r.Rcode != tc.rcode || !slices.Equal(answerIPs(r), tc.ips) {
			t.Errorf("%s %s: rcode %s answer %v, want %s %v", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], answerIPs(r), dns.RcodeToString[tc.rcode], tc.ips)
		}
	}
	if r := query(t, s, "udp", "lab.", dns.TypeSOA); len(r.Answer) != 1 {
		t.Errorf("lab. SOA: %v", r.Answer)
	}
}

func TestDNSWeightsSplitFirstAnswers(t *testing.T) {
	s := startTestDNS(t, time.Second, 3, 1)
	const n = 400
	first := 0
	for range n {
		if ips := answerIPs(query(t, s, "udp", PayName, dns.TypeA)); len(ips) == 2 && ips[0] == usEastIP {
			first++
		}
	}
	// Weight 3 of 4: us-east should come first in 75% of answers.
	if share := float64(first) / n; share < 0.68 || share > 0.82 {
		t.Errorf("us-east first in %.2f of answers, want about 0.75", share)
	}
}

func TestDNSRegionRemovalHealthServfailAndSlowAnswers(t *testing.T) {
	s := startTestDNS(t, time.Second, 1, 1)
	pay := func() []netip.Addr { return sortedIPs(answerIPs(query(t, s, "udp", PayName, dns.TypeA))) }

	if err := s.RemoveRegion("eu-west"); err != nil {
		t.Fatal(err)
	}
	if got := pay(); !slices.Equal(got, []netip.Addr{usEastIP}) {
		t.Errorf("after removing eu-west: %v", got)
	}
	if err := s.SetHealthy("us-east", false); err != nil {
		t.Fatal(err)
	}
	r := query(t, s, "udp", PayName, dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("no region left: rcode %s answer %v ns %v, want an empty answer with the SOA", dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
	}
	if err := s.RestoreRegion("eu-west"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHealthy("us-east", true); err != nil {
		t.Fatal(err)
	}
	if got := pay(); len(got) != 2 || !slices.Equal(s.Answering(), []string{"us-east", "eu-west"}) {
		t.Errorf("after restoring: %v, answering %v", got, s.Answering())
	}
	if err := s.RemoveRegion("ap-south"); err == nil {
		t.Error("removing an unknown region succeeded")
	}

	s.SetServfail(true)
	if r := query(t, s, "tcp", PayName, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("servfail mode: rcode %s", dns.RcodeToString[r.Rcode])
	}
	s.SetServfail(false)

	s.SetDelay(200 * time.Millisecond)
	start := time.Now()
	query(t, s, "udp", PayName, dns.TypeA)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("slow mode answered in %v, want at least 200ms", took)
	}
	s.SetDelay(0)
}

func TestDNSCloseCutsSlowAnswersShort(t *testing.T) {
	s, err := StartDNS(DNSConfig{TTL: time.Second, Regions: []DNSRegion{{Name: "us-east", IP: usEastIP, Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetDelay(time.Hour)
	go func() {
		m := new(dns.Msg)
		m.SetQuestion(PayName, dns.TypeA)
		_, _, _ = (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, s.Addr())
	}()
	if !waitFor(patience, func() bool { return s.Queries() == 1 }) {
		t.Fatal("query never arrived")
	}
	// The answer is due in an hour; Close must not wait for it. Patience is far
	// shorter than the hour, and a busy machine cannot make Close take that long.
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatalf("Close still waiting after %v with a slow answer (due in an hour) pending", patience)
	}
}

func TestDigQueriesLabDNS(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (apt-get install -y bind9-dnsutils); skipping the dig check")
	}
	s := startTestDNS(t, 2*time.Second, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	out, err := exec.CommandContext(ctx, dig, "@127.0.0.1", "-p", fmt.Sprint(s.Port()), "pay.lab", "+short", "+tries=1", "+time=10").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	var got []netip.Addr
	for _, f := range strings.Fields(string(out)) {
		ip, err := netip.ParseAddr(f)
		if err != nil {
			t.Fatalf("dig printed %q", out)
		}
		got = append(got, ip)
	}
	if !slices.Equal(sortedIPs(got), []netip.Addr{usEastIP, euWestIP}) {
		t.Errorf("dig pay.lab = %v, want both entry points", got)
	}
}

func TestResolverHonoursTTL(t *testing.T) {
	s := startTestDNS(t, time.Second, 1, 1)
	r, err := NewResolver(ResolverOptions{Server: s.Addr(), Timeout: patience})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	got, err := r.LookupHost(ctx, "pay.lab")
	if err != nil || len(got) != 2 {
		t.Fatalf("LookupHost = %v, %v", got, err)
	}
	asked := s.Queries()
	if err := s.RemoveRegion("eu-west"); err != nil {
		t.Fatal(err)
	}
	// Within the TTL: the cached answer, and the server is not asked.
	if got, _ := r.LookupHost(ctx, "pay.lab"); len(got) != 2 || s.Queries() != asked {
		if time.Since(start) < 900*time.Millisecond {
			t.Errorf("within the TTL: %v after %d queries (was %d), want the cached answer", got, s.Queries(), asked)
		}
	}
	// After it: asked again, and eu-west is gone.
	var last []netip.Addr
	if !waitFor(patience, func() bool { last, _ = r.LookupHost(ctx, "pay.lab"); return len(last) == 1 }) {
		t.Fatalf("still %v %v after a 1s TTL", last, patience)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("re-resolved after %v, before the 1s TTL ran out", took)
	}
	if last[0] != usEastIP {
		t.Errorf("after the TTL: %v, want us-east only", last)
	}
}

func TestResolverIgnoringTTLKeepsTheStaleAnswer(t *testing.T) {
	s := startTestDNS(t, time.Second, 1, 1)
	r, err := NewResolver(ResolverOptions{Server: s.Addr(), IgnoreTTL: true, Timeout: patience})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := r.LookupHost(ctx, "pay.lab"); err != nil || len(got) != 2 {
		t.Fatalf("LookupHost = %v, %v", got, err)
	}
	if err := s.RemoveRegion("eu-west"); err != nil {
		t.Fatal(err)
	}
	asked := s.Queries()
	time.Sleep(1200 * time.Millisecond) // outlive the 1s TTL: what is under test is that nothing expires
	if got, _ := r.LookupHost(ctx, "pay.lab"); len(got) != 2 || s.Queries() != asked {
		t.Errorf("ignoring the TTL: %v after %d queries (was %d), want the stale answer, unasked", got, s.Queries(), asked)
	}
	r.SetIgnoreTTL(false)
	if got, _ := r.LookupHost(ctx, "pay.lab"); len(got) != 1 {
		t.Errorf("honouring the TTL again: %v, want us-east only", got)
	}
}

func TestResolverReportsServfail(t *testing.T) {
	s := startTestDNS(t, time.Second, 1, 1)
	s.SetServfail(true)
	r, err := NewResolver(ResolverOptions{Server: s.Addr(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.LookupHost(context.Background(), "pay.lab"); err == nil {
		t.Errorf("LookupHost under SERVFAIL = %v, want an error", got)
	}
}

// regionServer is an HTTP server on 127.0.0.1 standing in for a region's
// gateway: it answers every request with its region's name, and /healthz
// with status when status is not nil.
func regionServer(t *testing.T, region string, status *atomic.Int32, hits *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		if r.URL.Path == "/healthz" && status != nil {
			w.WriteHeader(int(status.Load()))
			return
		}
		_, _ = io.WriteString(w, region)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestHealthCheckerTakesRegionOutAfterKFailuresAndBack(t *testing.T) {
	s := startTestDNS(t, time.Second, 1, 1)
	var status atomic.Int32
	var hits atomic.Int64
	status.Store(http.StatusOK)
	addr := regionServer(t, "eu-west", &status, &hits)
	okAddr := regionServer(t, "us-east", nil, nil)

	events := make(chan HealthEvent, 16)
	const k = 3
	h, err := StartHealthChecker(context.Background(), HealthConfig{
		Targets: []HealthTarget{
			{Region: "us-east", URL: "http://" + okAddr + "/healthz"},
			{Region: "eu-west", URL: "http://" + addr + "/healthz"},
		},
		Interval:  20 * time.Millisecond,
		Threshold: k,
		// A probe fails on its answer, never on the machine's speed: with the
		// default (the interval) a starved checker took a healthy region out.
		Timeout: patience,
		OnChange: func(ev HealthEvent) {
			if err := s.SetHealthy(ev.Region, ev.Healthy); err != nil {
				t.Error(err)
			}
			events <- ev
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	status.Store(http.StatusServiceUnavailable)
	failedFrom := hits.Load()
	ev := nextEvent(t, events)
	if ev.Region != "eu-west" || ev.Healthy || h.Healthy("eu-west") {
		t.Fatalf("event %+v, want eu-west unhealthy", ev)
	}
	if probes := hits.Load() - failedFrom; probes < k {
		t.Errorf("taken out after %d failed probes, want at least %d", probes, k)
	}
	if got := answerIPs(query(t, s, "udp", PayName, dns.TypeA)); !slices.Equal(got, []netip.Addr{usEastIP}) {
		t.Errorf("pay.lab. with eu-west unhealthy = %v", got)
	}

	status.Store(http.StatusOK)
	if ev := nextEvent(t, events); ev.Region != "eu-west" || !ev.Healthy || ev.Time.IsZero() {
		t.Fatalf("event %+v, want eu-west healthy", ev)
	}
	if got := answerIPs(query(t, s, "udp", PayName, dns.TypeA)); len(got) != 2 {
		t.Errorf("pay.lab. with eu-west back = %v", got)
	}
}

func nextEvent(t *testing.T, events <-chan HealthEvent) HealthEvent {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(patience):
		t.Fatalf("no health event within %v", patience)
		return HealthEvent{}
	}
}

// TestRegionRemovedFromDNSGetsNoNewConnectionsAfterTTL runs the whole client
// path: resolve pay.lab through the lab DNS, dial the answered entry point
// through the client region's proxies, and see which region's gateway
// answers.
func TestRegionRemovedFromDNSGetsNoNewConnectionsAfterTTL(t *testing.T) {
	topo := testTopology()
	topo.Latency = Latency{}
	topo.DNS.TTL = time.Second
	nw := newTestNetwork(t, topo, NetworkOptions{})
	for _, r := range topo.Regions {
		for _, g := range topo.GatewayNodes(r.Name) {
			if err := nw.Register(g.ID, regionServer(t, r.Name, nil, nil)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nw.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := StartDNS(DNSConfigFor(topo, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dial, err := nw.ClientDialer("us-east")
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewResolver(ResolverOptions{Server: s.Addr(), Dial: dial, Timeout: patience})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: res.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: patience}
	url := fmt.Sprintf("http://pay.lab:%d/", nw.EntryPort())
	served := func() string {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	// Whichever region DNS put first serves the first request; remove it.
	resolving := time.Now() // the answer is cached after this, for the 1s TTL
	first := served()
	other := map[string]string{"us-east": "eu-west", "eu-west": "us-east"}[first]
	if other == "" {
		t.Fatalf("first request served by %q", first)
	}
	if err := s.RemoveRegion(first); err != nil {
		t.Fatal(err)
	}
	// Judged only if the request certainly ran within the TTL: a busy machine may
	// have let the cached answer expire already.
	if got := served(); got != first && time.Since(resolving) < 900*time.Millisecond {
		t.Errorf("within the TTL: served by %s, want %s still (cached answer)", got, first)
	}
	// After the TTL the removed region gets no new connections. (How soon is the
	// machine's speed; that it happens at all shows the TTL ends the cache.)
	if !waitFor(patience, func() bool { return served() == other }) {
		t.Fatalf("new connections still reach %s %v after its removal with a 1s TTL", first, patience)
	}
	for range 5 {
		if got := served(); got != other {
			t.Errorf("after the TTL a new connection reached %s", got)
		}
	}
}

func TestDNSHealthCheckerAndResolverLeaveNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s, err := StartDNS(DNSConfig{TTL: time.Second, Regions: []DNSRegion{{Name: "us-east", IP: usEastIP, Weight: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var probes atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { probes.Add(1) }))
		defer srv.Close()
		h, err := StartHealthChecker(context.Background(), HealthConfig{
			Targets:  []HealthTarget{{Region: "us-east", URL: srv.URL + "/healthz"}},
			Interval: 10 * time.Millisecond, Threshold: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		r, err := NewResolver(ResolverOptions{Server: s.Addr(), Timeout: patience})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.LookupHost(context.Background(), "pay.lab"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := (&dns.Client{Net: "tcp"}).Exchange(new(dns.Msg).SetQuestion(PayName, dns.TypeA), s.Addr()); err != nil {
			t.Fatal(err)
		}
		if !waitFor(patience, func() bool { return probes.Load() >= 2 && s.Queries() >= 3 }) {
			t.Fatalf("%d probes, %d queries", probes.Load(), s.Queries())
		}
	}()
	expectGoroutinesBackTo(t, before)
}

// TestResolverSharesOneQueryAmongConcurrentLookups holds the DNS server's answer until twenty lookups of
// the same name are waiting: they must all get the answer of one query (A and AAAA), not twenty.
func TestResolverSharesOneQueryAmongConcurrentLookups(t *testing.T) {
	release := make(chan struct{})
	var queries atomic.Int64
	mux := dns.NewServeMux()
	mux.HandleFunc("lab.", func(w dns.ResponseWriter, req *dns.Msg) {
		queries.Add(1)
		<-release
		m := new(dns.Msg)
		m.SetReply(req)
		if req.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: usEastIP.AsSlice()})
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: mux, NotifyStartedFunc: func() { close(started) }}
	go srv.ListenAndServe()
	<-started
	defer srv.Shutdown()
	r, err := NewResolver(ResolverOptions{Server: srv.PacketConn.LocalAddr().String(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const callers = 20
	results := make(chan error, callers)
	for range callers {
		go func() {
			addrs, err := r.LookupHost(context.Background(), "pay.lab")
			if err == nil && (len(addrs) != 1 || addrs[0] != usEastIP) {
				err = fmt.Errorf("answer %v", addrs)
			}
			results <- err
		}()
	}
	for r.waiting("pay.lab.") < 1 || queries.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	close(release) // callers that have not joined yet find the answer cached: still one lookup
	for range callers {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if q := queries.Load(); q > 4 {
		t.Fatalf("%d queries for %d concurrent lookups of one name, want those of one lookup (A and AAAA, a retry at most)", q, callers)
	}
}
