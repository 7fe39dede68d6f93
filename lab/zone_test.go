package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"paylab/faults"
	"paylab/lab/load"
	"paylab/outcome"
	"paylab/regions"
	"paylab/results"
	"paylab/scenarios"
)

// zoneLab builds the zone-failover system: us-east (zones a, b, c; a ledger node in each, its one gateway
// in a) and eu-west (one zone, one gateway), with the lab DNS and its health checker.
func zoneLab(t *testing.T, adjust func(*scenarios.Scenario)) *Lab {
	t.Helper()
	s, _, err := scenarios.LoadNamed("zone-failover")
	if err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(s)
	}
	// Build's context is the lab's life (the health checker runs under it), not a bound on starting.
	l, err := Build(context.Background(), s, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	l.SetEpoch(time.Now())
	return l
}

// payAnswers is the set of regions the lab DNS answers pay.lab with now.
func payAnswers(t *testing.T, l *Lab) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(regions.PayName, dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, l.DNS().Addr())
	if err != nil {
		t.Fatalf("query pay.lab: %v", err)
	}
	var out []string
	for _, rr := range r.Answer {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(a.A.To4())
		for _, reg := range l.s.Topology.Regions {
			if e, _ := l.s.Topology.EntryIP(reg.Name); e == ip {
				out = append(out, reg.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// eventually polls cond every 20 ms until it holds, failing the test after wait.
func eventually(t *testing.T, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pay sends one transfer from a client region through its clients (DNS, entry points, gateways), resending
// the same id until it is decided, and fails the test unless it commits within wait.
func pay(t *testing.T, l *Lab, region int, key uint64, wait time.Duration) {
	t.Helper()
	target := gatewayTarget{l: l, regions: l.s.Workload.From}
	tr := load.Transfer{ID: fmt.Sprintf("zone-test-%016x", key), Key: key, From: int(key % 7), To: int(key%7) + 1, Amount: 1}
	deadline := time.Now().Add(wait)
	var last load.Outcome
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), l.s.Workload.Timeout)
		last = target.Transfer(ctx, region, tr)
		cancel()
		switch last.Kind {
		case outcome.OK:
			return
		case outcome.Rejected:
			t.Fatalf("payment %s from %s rejected: %s", tr.ID, l.s.Workload.From[region], last.Reason)
		}
	}
	t.Fatalf("payment %s from %s not committed within %v: last %v %s", tr.ID, l.s.Workload.From[region], wait, last.Kind, last.Reason)
}

func refuses(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func healthzOK(url string) bool {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestZoneDownTakesEverythingInTheZoneAndClientsFailOver: zone-down us-east/a crashes the ledger node and
// the gateway there; the gateway's port refuses, us-east's entry point (no gateway left) refuses, the DNS
// health checker takes us-east out of pay.lab, and payments from both client regions keep committing
// through eu-west. Heal brings all of it back, and pay.lab answers us-east again.
func TestZoneDownTakesEverythingInTheZoneAndClientsFailOver(t *testing.T) {
	l := zoneLab(t, nil)
	ctx := context.Background()
	const gw = regions.NodeID("gateway:us-east/a")
	gwAddr := l.gateways[0].cfg.Addr
	usEntry, _ := l.nw.EntryAddr("us-east")
	eventually(t, 30*time.Second, "pay.lab answers both regions", func() bool {
		return slices.Equal(payAnswers(t, l), []string{"eu-west", "us-east"})
	})
	for region := range l.s.Workload.From {
		pay(t, l, region, uint64(region), 30*time.Second)
	}

	f := crashZone(ctx, t, l, "us-east/a")
	defer func() { _ = f.Heal(context.Background(), l) }()
	if !refuses(gwAddr) {
		t.Fatalf("gateway:us-east/a at %s accepts connections after its zone went down", gwAddr)
	}
	if !refuses(usEntry) || l.nw.EntryServing("us-east") {
		t.Fatalf("us-east's entry point %s accepts connections with its only gateway down", usEntry)
	}
	if !slices.Contains(l.Nodes(), gw) {
		t.Fatalf("Nodes() = %v lacks %s", l.Nodes(), gw)
	}
	// Clients whose cached answer still lists us-east fall through to eu-west on the same request.
	for i := range 10 {
		pay(t, l, i%2, uint64(100+i), 30*time.Second)
	}
	eventually(t, 30*time.Second, "the health checker takes us-east out of pay.lab", func() bool {
		return slices.Equal(payAnswers(t, l), []string{"eu-west"})
	})
	for i := range 10 {
		pay(t, l, i%2, uint64(200+i), 30*time.Second)
	}

	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
	if refuses(gwAddr) || !l.nw.EntryServing("us-east") {
		t.Fatal("after heal, gateway:us-east/a or us-east's entry point refuses connections")
	}
	eventually(t, 30*time.Second, "gateway:us-east/a is healthy through us-east's entry point", func() bool {
		return healthzOK("http://" + usEntry)
	})
	eventually(t, 30*time.Second, "the health checker puts us-east back into pay.lab", func() bool {
		return slices.Equal(payAnswers(t, l), []string{"eu-west", "us-east"})
	})
	for i := range 10 {
		pay(t, l, i%2, uint64(300+i), 30*time.Second)
	}
	eventually(t, 30*time.Second, "every ledger replica holds the same state", l.converged)

	var got []string
	for _, e := range l.Events() {
		if e.Kind == results.EventNote && (e.Name == "zone-down" || e.Name == "entry") || e.Kind == results.EventDNS {
			got = append(got, e.Name+" "+e.Target+" "+e.Detail)
		}
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"zone-down us-east/a down: ledger:us-east/a crashed",
		"zone-down us-east/a down: gateway:us-east/a crashed",
		"entry us-east down:",
		"dns us-east out of pay.lab",
		"zone-down us-east/a up: gateway:us-east/a restarted",
		"zone-down us-east/a up: ledger:us-east/a restarted",
		"entry us-east up:",
		"dns us-east back in pay.lab",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no event %q among:\n%s", want, all)
		}
	}
}

// TestZoneDownOfAMultiZoneRegionKeepsItsEntryOnTheOtherZones: with a gateway in each of us-east's three
// zones, zone-down us-east/a takes only zone a's gateway; us-east's entry point (a balancer across the
// zones) keeps serving through b and c, so the region stays healthy in pay.lab and its clients' payments
// keep committing.
func TestZoneDownOfAMultiZoneRegionKeepsItsEntryOnTheOtherZones(t *testing.T) {
	l := zoneLab(t, func(s *scenarios.Scenario) { s.Topology.Gateways.PerRegion = 3 })
	ctx := context.Background()
	usEntry, _ := l.nw.EntryAddr("us-east")
	f := crashZone(ctx, t, l, "us-east/a")
	defer func() { _ = f.Heal(context.Background(), l) }()
	var down []regions.NodeID
	for _, g := range l.gateways {
		if l.nw.IsDown(g.id) {
			down = append(down, g.id)
		}
	}
	if !slices.Equal(down, []regions.NodeID{"gateway:us-east/a"}) {
		t.Fatalf("gateways down after zone-down us-east/a: %v, want only gateway:us-east/a", down)
	}
	if !l.nw.EntryServing("us-east") {
		t.Fatal("us-east's entry point stopped serving with gateways up in zones b and c")
	}
	ok := 0
	eventually(t, 30*time.Second, "us-east's entry point answers /healthz 5 times in a row", func() bool {
		if healthzOK("http://" + usEntry) {
			ok++
		} else {
			ok = 0
		}
		return ok >= 5
	})
	for i := range 10 {
		pay(t, l, i%2, uint64(400+i), 30*time.Second)
	}
	// (Polled rather than read once: on a starved machine a health probe may time out and take a region
	// out for a moment, whatever the zones do.)
	eventually(t, 30*time.Second, "pay.lab answers both regions with two of us-east's three zones serving", func() bool {
		return slices.Equal(payAnswers(t, l), []string{"eu-west", "us-east"})
	})
	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
	if l.nw.IsDown("gateway:us-east/a") {
		t.Fatal("gateway:us-east/a still down after heal")
	}
}

// crashZone injects zone-down (mode crash) on zone into l, failing the test if it cannot.
func crashZone(ctx context.Context, t *testing.T, l *Lab, zone string) faults.Fault {
	t.Helper()
	k, _ := faults.Lookup("zone-down")
	f, err := k.New(l.s.Topology, zone, map[string]any{"mode": "crash"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Inject(ctx, l); err != nil {
		t.Fatal(err)
	}
	return f
}
