package regions

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// twoGatewayTopology is testTopology with two gateways per region: us-east's
// in zones a and b, eu-west's both in its only zone a.
func twoGatewayTopology() Topology {
	topo := testTopology()
	topo.Gateways.PerRegion = 2
	return topo
}

// startGatewayStandIns registers, for every gateway of topo, an HTTP server
// that answers every path (also /healthz) with 200 and the gateway's id, and
// connects the network.
func startGatewayStandIns(t *testing.T, nw *Network) {
	t.Helper()
	topo := nw.Topology()
	for _, r := range topo.Regions {
		for _, g := range topo.GatewayNodes(r.Name) {
			id := g.ID
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, string(id))
			}))
			t.Cleanup(srv.Close)
			if err := nw.Register(id, srv.Listener.Addr().String()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nw.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// getVia GETs url on a fresh connection opened by dial and returns the body.
func getVia(dial func(ctx context.Context, network, addr string) (net.Conn, error), url string) (string, error) {
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: patience}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func plainDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// servedBy makes n requests and returns the distinct gateways that answered,
// sorted, or the first error.
func servedBy(n int, dial func(ctx context.Context, network, addr string) (net.Conn, error), url string) ([]string, error) {
	var out []string
	for range n {
		who, err := getVia(dial, url)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, who) {
			out = append(out, who)
		}
	}
	slices.Sort(out)
	return out, nil
}

func TestNodeDownRefusesItsLinksAndTheEntryPointFollowsTheGateways(t *testing.T) {
	ctx := context.Background()
	nw := newTestNetwork(t, twoGatewayTopology(), NetworkOptions{})
	startGatewayStandIns(t, nw)
	usEntry, _ := nw.EntryAddr("us-east")
	usURL := "http://" + usEntry + "/"
	fromEU, err := nw.ClientDialer("eu-west")
	if err != nil {
		t.Fatal(err)
	}
	gwA, gwB := NodeID("gateway:us-east/a"), NodeID("gateway:us-east/b")

	// Both zones serve: the entry point and eu-west's clients reach both gateways, in turn.
	for name, dial := range map[string]func(context.Context, string, string) (net.Conn, error){"entry point": plainDial, "eu-west clients": fromEU} {
		got, err := servedBy(4, dial, usURL)
		if err != nil || !slices.Equal(got, []string{string(gwA), string(gwB)}) {
			t.Fatalf("through the %s: served by %v (%v), want both us-east gateways", name, got, err)
		}
	}

	// Zone a's gateway goes down: its links refuse, the region is served by zone b alone.
	if err := nw.NodeDown(ctx, gwA); err != nil {
		t.Fatal(err)
	}
	if !nw.IsDown(gwA) {
		t.Fatal("IsDown is false after NodeDown")
	}
	for _, from := range []NodeID{"client:us-east", "client:eu-west"} {
		l, _ := nw.Link(LinkID{From: from, To: gwA})
		if c, err := net.DialTimeout("tcp", l.Listen, time.Second); err == nil {
			c.Close()
			t.Errorf("the link %s->%s accepts a connection while its gateway is down", from, gwA)
		}
	}
	if !nw.EntryServing("us-east") {
		t.Fatal("us-east's entry point stopped serving with zone b's gateway up")
	}
	for name, dial := range map[string]func(context.Context, string, string) (net.Conn, error){"entry point": plainDial, "eu-west clients": fromEU} {
		got, err := servedBy(4, dial, usURL)
		if err != nil || !slices.Equal(got, []string{string(gwB)}) {
			t.Fatalf("through the %s with zone a down: served by %v (%v), want only %s", name, got, err, gwB)
		}
	}

	// A network fault healed while the gateway is down leaves its links refusing.
	f, err := partition(ctx, nw, LinkID{From: "client:us-east", To: gwA})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ := nw.Link(LinkID{From: "client:us-east", To: gwA})
	if c, err := net.DialTimeout("tcp", l.Listen, time.Second); err == nil {
		c.Close()
		t.Error("healing a partition re-opened a link towards a gateway that is down")
	}

	// The last gateway goes: the entry point refuses, and so does every client dialer.
	if err := nw.NodeDown(ctx, gwB); err != nil {
		t.Fatal(err)
	}
	if nw.EntryServing("us-east") {
		t.Fatal("us-east's entry point serves with no gateway up")
	}
	if c, err := net.DialTimeout("tcp", usEntry, time.Second); err == nil {
		c.Close()
		t.Fatal("us-east's entry point accepts a connection with no gateway up")
	}
	if c, err := fromEU(ctx, "tcp", usEntry); err == nil || !strings.Contains(err.Error(), "no gateway accepts") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("eu-west clients dialling us-east with no gateway up: %v, want no gateway accepts", err)
	}
	if !nw.EntryServing("eu-west") {
		t.Fatal("eu-west's entry point stopped serving when us-east's gateways went down")
	}

	// Both come back: everything serves again, on the same addresses.
	for _, g := range []NodeID{gwB, gwA} {
		if err := nw.NodeUp(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for name, dial := range map[string]func(context.Context, string, string) (net.Conn, error){"entry point": plainDial, "eu-west clients": fromEU} {
		got, err := servedBy(4, dial, usURL)
		if err != nil || !slices.Equal(got, []string{string(gwA), string(gwB)}) {
			t.Fatalf("through the %s after NodeUp: served by %v (%v), want both us-east gateways", name, got, err)
		}
	}
	if err := nw.NodeDown(ctx, "ledger:mars/a"); err == nil {
		t.Error("NodeDown of a node not in the topology succeeded")
	}
}

// TestClientsFallThroughToTheNextRegionAndHealthChecksTakeTheRegionOut runs
// the client path of a zone failure: a region whose every gateway is down
// refuses at once, so a client whose cached answer still lists it reaches the
// next region on the same request; the health checker, probing through the
// entry point, takes the region out of pay.lab after K failures and puts it
// back after K successes once a gateway is up again.
func TestClientsFallThroughToTheNextRegionAndHealthChecksTakeTheRegionOut(t *testing.T) {
	ctx := context.Background()
	topo := testTopology()
	topo.Latency = Latency{}
	nw := newTestNetwork(t, topo, NetworkOptions{})
	startGatewayStandIns(t, nw)
	s, err := StartDNS(DNSConfigFor(topo, 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var targets []HealthTarget
	for _, r := range topo.Regions {
		e, _ := nw.EntryAddr(r.Name)
		targets = append(targets, HealthTarget{Region: r.Name, URL: "http://" + e + "/healthz"})
	}
	events := make(chan HealthEvent, 16)
	const k = 2
	// Probes fail on the entry point's answer (a refusal), never on a starved machine's speed: with
	// the default timeout (the interval) a healthy region's slow probes took it out.
	h, err := StartHealthChecker(ctx, HealthConfig{Targets: targets, Interval: 20 * time.Millisecond, Timeout: patience, Threshold: k, OnChange: func(e HealthEvent) {
		_ = s.SetHealthy(e.Region, e.Healthy)
		events <- e
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	// A client with an answer cached for longer than the test: it keeps listing both regions.
	dial, err := nw.ClientDialer("us-east")
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewResolver(ResolverOptions{Server: s.Addr(), Dial: dial, IgnoreTTL: true})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://pay.lab:%d/", nw.EntryPort())
	if _, err := servedBy(1, res.DialContext, url); err != nil {
		t.Fatal(err)
	}

	euGW, usGW := NodeID("gateway:eu-west/a"), NodeID("gateway:us-east/a")
	if err := nw.NodeDown(ctx, usGW); err != nil {
		t.Fatal(err)
	}
	// Every request succeeds, through eu-west, whatever order the cached answer has.
	got, err := servedBy(6, res.DialContext, url)
	if err != nil || !slices.Equal(got, []string{string(euGW)}) {
		t.Fatalf("with us-east's gateway down: served by %v (%v), want only %s", got, err, euGW)
	}
	waitHealth := func(healthy bool) HealthEvent {
		t.Helper()
		timeout := time.After(patience)
		for {
			select {
			case e := <-events:
				if e.Region == "us-east" && e.Healthy == healthy {
					return e
				}
				t.Fatalf("unexpected health event %+v", e)
			case <-timeout:
				t.Fatalf("us-east never became healthy=%v", healthy)
			}
		}
	}
	e := waitHealth(false)
	if !strings.Contains(e.Reason, "refused") {
		t.Errorf("reason %q, want the entry point's refusal", e.Reason)
	}
	if ips := answerIPs(query(t, s, "udp", PayName, dns.TypeA)); len(ips) != 1 || ips[0] != euWestIP {
		t.Fatalf("pay.lab answers %v with us-east's only gateway down, want only eu-west %v", ips, euWestIP)
	}

	if err := nw.NodeUp(ctx, usGW); err != nil {
		t.Fatal(err)
	}
	waitHealth(true)
	if ips := answerIPs(query(t, s, "udp", PayName, dns.TypeA)); len(ips) != 2 {
		t.Fatalf("pay.lab answers %v after us-east's gateway is back, want both regions", ips)
	}
	usEntry, _ := nw.EntryAddr("us-east")
	if got, err := servedBy(1, plainDial, "http://"+usEntry+"/"); err != nil || !slices.Equal(got, []string{string(usGW)}) {
		t.Fatalf("us-east's entry point after NodeUp: served by %v (%v)", got, err)
	}
}
