package regions

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// testTopology has two zones in us-east and one in eu-west, a ledger node in
// each, 1 ms between zones and 20 ms between regions, no jitter.
func testTopology() Topology {
	topo := DefaultTopology()
	topo.Regions = []Region{{Name: "us-east", Zones: []string{"a", "b"}}, {Name: "eu-west", Zones: []string{"a"}}}
	topo.Ledger.Nodes = []Placement{{"us-east", "a"}, {"us-east", "b"}, {"eu-west", "a"}}
	topo.Latency = Latency{Zone: time.Millisecond, Region: 20 * time.Millisecond}
	return topo
}

const (
	usA = NodeID("ledger:us-east/a")
	usB = NodeID("ledger:us-east/b")
	euA = NodeID("ledger:eu-west/a")
)

func newTestNetwork(t *testing.T, topo Topology, opts NetworkOptions) *Network {
	t.Helper()
	nw, err := NewNetwork(context.Background(), topo, opts)
	if err != nil {
		t.Fatalf("NewNetwork: %v", err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return nw
}

// tcpServer is a loopback server whose connections run handle; Close closes
// the listener and every connection and waits for the handlers.
type tcpServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func startServer(t *testing.T, handle func(net.Conn)) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = c.Close()
				return
			}
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(s.Close)
	return s
}

func (s *tcpServer) Addr() string { return s.ln.Addr().String() }

func (s *tcpServer) Close() {
	s.mu.Lock()
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// ticker writes the byte say holds every 10 ms and reports every byte it
// receives on got. A test that sets a new byte after a fault can tell what the
// server wrote after the fault from bytes that were already in flight.
func ticker(got chan<- byte, say *atomic.Int32) func(net.Conn) {
	return func(c net.Conn) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			b := make([]byte, 1)
			for {
				if _, err := c.Read(b); err != nil {
					return
				}
				select {
				case got <- b[0]:
				default:
				}
			}
		}()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if _, err := c.Write([]byte{byte(say.Load())}); err != nil {
					return
				}
			}
		}
	}
}

// newSay returns a ticker's byte to write, set to b.
func newSay(b byte) *atomic.Int32 {
	var say atomic.Int32
	say.Store(int32(b))
	return &say
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ping sends one byte and waits up to wait for its echo.
func ping(c net.Conn, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := c.SetDeadline(start.Add(wait)); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte{'p'}); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// pings returns n round trips on c, sorted.
func pings(t *testing.T, c net.Conn, n int) []time.Duration {
	t.Helper()
	var rtts []time.Duration
	for range n {
		d, err := ping(c, patience)
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
		rtts = append(rtts, d)
	}
	slices.Sort(rtts)
	return rtts
}

// medianPing is the median of n round trips on c. A busy machine can only
// make a round trip longer than its latency toxics, so tests compare it with
// a lower bound only; an upper bound would measure the machine.
func medianPing(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	rtts := pings(t, c, n)
	return rtts[len(rtts)/2]
}

// latencyByStream sums the latency toxics on a link's proxy per stream
// ("upstream" is From → To): what the link is configured to add, which a test
// can check exactly whatever the machine's speed.
func latencyByStream(t *testing.T, nw *Network, id LinkID) map[string]time.Duration {
	t.Helper()
	p, err := toxiclient.NewClient(nw.ToxiproxyAddr()).Proxy(id.ProxyName())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Duration{}
	for _, x := range p.ActiveToxics {
		if x.Type != "latency" {
			continue
		}
		ms, ok := x.Attributes["latency"].(float64)
		if !ok {
			t.Fatalf("toxic %s has latency %v (%T)", x.Name, x.Attributes["latency"], x.Attributes["latency"])
		}
		if j, _ := x.Attributes["jitter"].(float64); j != 0 {
			t.Fatalf("toxic %s has jitter %vms, want none", x.Name, j)
		}
		got[x.Stream] += time.Duration(ms) * time.Millisecond
	}
	return got
}

// connectLink registers an echo server as the link's target and creates the
// link's proxy.
func connectLink(t *testing.T, nw *Network, id LinkID, handle func(net.Conn)) Link {
	t.Helper()
	srv := startServer(t, handle)
	if err := nw.Register(id.To, srv.Addr()); err != nil {
		t.Fatal(err)
	}
	l, err := nw.AddLink(context.Background(), id)
	if err != nil {
		t.Fatalf("AddLink(%s): %v", id, err)
	}
	return l
}

func toxicNames(t *testing.T, nw *Network, id LinkID) []string {
	t.Helper()
	p, err := toxiclient.NewClient(nw.ToxiproxyAddr()).Proxy(id.ProxyName())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range p.ActiveToxics {
		names = append(names, x.Name)
	}
	sort.Strings(names)
	return names
}

// The matrix latency is configured on each link exactly (one toxic per
// direction), and it shows: no round trip is faster than the two toxics. A
// busy machine only makes round trips slower, so the measured side has a
// lower bound only; the configured toxics pin the value.
func TestMatrixLatencyShowsInRoundTrip(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	cases := []struct {
		link   LinkID
		oneWay time.Duration
	}{
		{LinkID{From: usA, To: euA}, 20 * time.Millisecond},
		{LinkID{From: usA, To: usB}, time.Millisecond},
	}
	for _, tc := range cases {
		l := connectLink(t, nw, tc.link, echo)
		want := map[string]time.Duration{"upstream": tc.oneWay, "downstream": tc.oneWay}
		if got := latencyByStream(t, nw, tc.link); !maps.Equal(got, want) || l.OneWay != tc.oneWay {
			t.Errorf("%s: latency toxics %v (link one-way %v), want %v", tc.link, got, l.OneWay, want)
		}
		c := dial(t, l.Listen)
		rtts := pings(t, c, 15)
		t.Logf("%s: RTT min %v median %v, configured one-way %v", tc.link, rtts[0], rtts[len(rtts)/2], l.OneWay)
		// One toxic per direction holds each chunk at least its latency after the
		// proxy read it, so every round trip takes at least 2 × one-way.
		if rtts[0] < 2*tc.oneWay {
			t.Errorf("%s: fastest RTT %v, want at least 2 × %v", tc.link, rtts[0], tc.oneWay)
		}
	}
}

func TestAddedLatencyStacksAndHealRestoresIt(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	id := LinkID{From: usA, To: usB}
	l := connectLink(t, nw, id, echo)
	c := dial(t, l.Listen)
	before := toxicNames(t, nw, id)

	f, err := addToxics(context.Background(), nw, []Toxic{LatencyToxic(Forward, 40*time.Millisecond, 0)}, id)
	if err != nil {
		t.Fatal(err)
	}
	// Configured: the fault's 40 ms on top of the matrix's 1 ms, forward only.
	want := map[string]time.Duration{"upstream": 41 * time.Millisecond, "downstream": time.Millisecond}
	if got := latencyByStream(t, nw, id); !maps.Equal(got, want) {
		t.Errorf("latency toxics with 40 ms added forward = %v, want %v", got, want)
	}
	// Measured, with a bound that holds on a starved machine: toxiproxy times a
	// stacked toxic from the chunk's timestamp as the toxic before it left it,
	// which runs early by however late that toxic ran (x), so a chunk leaves the
	// pair after at least max(x, 41 ms − x) ≥ 20.5 ms. Without the fault a
	// round trip takes 2 ms on a quiet machine.
	const floor = 20 * time.Millisecond
	rtts := pings(t, c, 9)
	if rtts[0] < floor {
		t.Errorf("RTT with 40 ms added forward = %v (fastest of 9), want at least %v: the fault does not delay", rtts[0], floor)
	}
	t.Logf("RTT with 40 ms added forward: min %v median %v", rtts[0], rtts[len(rtts)/2])
	if err := f.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := toxicNames(t, nw, id); !slices.Equal(got, before) {
		t.Errorf("toxics after heal = %v, want %v", got, before)
	}
	// A latency fault drops nothing, so the live connection survives the heal, and
	// its round trips can again beat the floor the fault imposed (a busy machine may
	// take a few tries).
	deadline := time.Now().Add(patience)
	for {
		d, err := ping(c, patience)
		if err != nil {
			t.Fatalf("ping after heal: %v", err)
		}
		if d < floor {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after heal no RTT under %v in %v (last %v): the fault's latency is still there", floor, patience, d)
		}
	}
}

func TestPartitionClosesLiveConnectionsAndBlocksNewData(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	id := LinkID{From: usA, To: usB}
	l := connectLink(t, nw, id, echo)
	live := dial(t, l.Listen)
	if _, err := ping(live, patience); err != nil {
		t.Fatalf("ping before partition: %v", err)
	}
	before := toxicNames(t, nw, id)

	f, err := partition(context.Background(), nw, id)
	if err != nil {
		t.Fatal(err)
	}
	// The live connection is closed, not left to time out (patience is far shorter
	// than any timeout in play: a partition never times out).
	if err := live.SetReadDeadline(time.Now().Add(patience)); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("read on a live connection after partition = %v, want it closed", err)
	}
	// A new connection is accepted but nothing crosses it.
	fresh := dial(t, l.Listen)
	if _, err := ping(fresh, 300*time.Millisecond); !isTimeout(err) {
		t.Errorf("ping across a partition = %v, want a timeout", err)
	}

	if err := f.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := toxicNames(t, nw, id); !slices.Equal(got, before) {
		t.Errorf("toxics after heal = %v, want %v", got, before)
	}
	if _, err := ping(dial(t, l.Listen), patience); err != nil {
		t.Errorf("ping after heal: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// received waits up to wait for the byte m on got, skipping any other.
func received(got <-chan byte, m byte, wait time.Duration) bool {
	timeout := time.After(wait)
	for {
		select {
		case b := <-got:
			if b == m {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// reads reports whether c delivers the byte m within wait, skipping any other.
func reads(c net.Conn, m byte, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if slices.Contains(buf[:n], m) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// A one-way partition blocks one direction and lets the other through. Every
// check uses a byte first sent after the fault, so nothing in flight from
// before can pass for a leak; what must pass is given patience, and what must
// not is judged only after the passing direction has delivered (blockedFor
// more on top).
func TestPartitionOneWayBlocksOneDirectionOnly(t *testing.T) {
	const blockedFor = 500 * time.Millisecond
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	id := LinkID{From: usA, To: usB}
	got, say := make(chan byte, 1024), newSay('t')
	l := connectLink(t, nw, id, ticker(got, say))
	c := dial(t, l.Listen)

	if _, err := c.Write([]byte{'x'}); err != nil || !received(got, 'x', patience) || !reads(c, 't', patience) {
		t.Fatalf("link does not carry both directions before the fault (write err %v)", err)
	}

	for i, dir := range []Direction{Forward, Backward} {
		f, err := partitionOneWay(context.Background(), nw, dir, id)
		if err != nil {
			t.Fatal(err)
		}
		// New markers for this fault: the client writes fw, the server writes bw.
		fw, bw := byte('F'+i), byte('b'+i)
		say.Store(int32(bw))
		if _, err := c.Write([]byte{fw}); err != nil {
			t.Fatalf("write under the %v cut: %v", dir, err)
		}
		var forward, backward bool
		if dir == Forward {
			backward = reads(c, bw, patience)
			forward = received(got, fw, blockedFor)
		} else {
			forward = received(got, fw, patience)
			backward = reads(c, bw, blockedFor)
		}
		if forward != (dir == Backward) || backward != (dir == Forward) {
			t.Errorf("%v cut: forward passes %v, backward passes %v", dir, forward, backward)
		}
		if err := f.Heal(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The heal closed the connection (it lost bytes); a new one carries both ways.
		c = dial(t, l.Listen)
		say.Store('h')
		if _, err := c.Write([]byte{'h'}); err != nil || !received(got, 'h', patience) || !reads(c, 'h', patience) {
			t.Fatalf("after healing the %v cut, the link does not carry both directions", dir)
		}
	}
}

// Cut drops what one node sends, on its own connections and on the other
// node's. Markers as in TestPartitionOneWayBlocksOneDirectionOnly.
func TestCutDropsOnlyWhatOneNodeSends(t *testing.T) {
	const blockedFor = 500 * time.Millisecond
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	gotA, gotB := make(chan byte, 1024), make(chan byte, 1024)
	sayA, sayB := newSay('t'), newSay('t')
	ab := connectLink(t, nw, LinkID{From: usA, To: usB}, ticker(gotB, sayB))
	ba := connectLink(t, nw, LinkID{From: usB, To: usA}, ticker(gotA, sayA))
	fromA, fromB := dial(t, ab.Listen), dial(t, ba.Listen)

	f, err := cut(context.Background(), nw, usA, usB)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Heal(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	sayA.Store('A')
	sayB.Store('B')
	_, _ = fromA.Write([]byte{'a'})
	_, _ = fromB.Write([]byte{'b'})
	// What b sends passes, on both connections.
	if !reads(fromA, 'B', patience) {
		t.Error("b's bytes did not reach a on a's connection")
	}
	if !received(gotA, 'b', patience) {
		t.Error("b's bytes did not reach a on b's connection")
	}
	// What a sends is dropped, on both connections.
	if received(gotB, 'a', blockedFor) {
		t.Error("a's bytes reached b on a's own connection")
	}
	if reads(fromB, 'A', blockedFor) {
		t.Error("a's bytes reached b on b's connection")
	}
}

func TestHealAllAndHealOnlyTheFaultsOwnToxics(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	ab := LinkID{From: usA, To: usB}
	connectLink(t, nw, ab, echo)
	ctx := context.Background()
	base := toxicNames(t, nw, ab)

	slow, err := addToxics(ctx, nw, []Toxic{LatencyToxic(Both, 5*time.Millisecond, time.Millisecond), BandwidthToxic(Forward, 100)}, ab)
	if err != nil {
		t.Fatal(err)
	}
	withSlow := toxicNames(t, nw, ab)
	cut, err := partition(ctx, nw, ab)
	if err != nil {
		t.Fatal(err)
	}
	if err := cut.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := toxicNames(t, nw, ab); !slices.Equal(got, withSlow) {
		t.Errorf("after healing the partition: toxics %v, want the latency fault's still there: %v", got, withSlow)
	}
	if _, err := addToxics(ctx, nw, []Toxic{SlicerToxic(Both, 64, 16, time.Millisecond), ResetPeerToxic(Backward, time.Hour)}, ab); err != nil {
		t.Fatal(err)
	}
	if err := nw.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := toxicNames(t, nw, ab); !slices.Equal(got, base) {
		t.Errorf("after HealAll: toxics %v, want %v", got, base)
	}
	if err := slow.Heal(ctx); err != nil {
		t.Errorf("healing an already healed fault: %v", err)
	}
}

func TestInjectOnUnknownLinkFailsAndAddsNothing(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	ab := LinkID{From: usA, To: usB}
	connectLink(t, nw, ab, echo)
	base := toxicNames(t, nw, ab)
	_, err := partition(context.Background(), nw, ab, LinkID{From: usB, To: euA})
	if !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Partition with an unconnected link = %v, want ErrNotConnected", err)
	}
	if got := toxicNames(t, nw, ab); !slices.Equal(got, base) {
		t.Errorf("toxics after a failed inject = %v, want %v", got, base)
	}
}

func TestRegisterRefusesAddressesOffLoopback(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	if err := nw.Register(usA, "10.0.0.1:80"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Register off loopback = %v, want ErrNotLoopback", err)
	}
	if err := nw.Register("ledger:mars/a", "127.0.0.1:80"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Register of an unknown node = %v, want ErrUnknownNode", err)
	}
	if _, err := NewNetwork(context.Background(), testTopology(), NetworkOptions{ToxiproxyURL: "http://192.0.2.1:8474"}); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("NewNetwork with a remote toxiproxy = %v, want ErrNotLoopback", err)
	}
}

func TestConnectBuildsEveryLinkAndEntryPoints(t *testing.T) {
	topo := testTopology()
	nw := newTestNetwork(t, topo, NetworkOptions{})
	for _, n := range topo.Nodes() {
		if n.Kind == KindClient {
			continue
		}
		srv := startServer(t, echo)
		if err := nw.Register(n.ID, srv.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := len(nw.Links()), len(topo.Links()); got != want {
		t.Fatalf("%d links, want %d", got, want)
	}
	// The entry point of eu-west is its load balancer: it forwards to the gateway through the link from
	// eu-west's clients.
	entry, _ := nw.EntryAddr("eu-west")
	if !nw.EntryServing("eu-west") {
		t.Fatal("eu-west's entry point does not serve")
	}
	if _, err := ping(dial(t, entry), patience); err != nil {
		t.Fatalf("through eu-west's entry point: %v", err)
	}
	// us-east's clients reach eu-west's gateway through their own link, 20 ms each way.
	d, err := nw.ClientDialer("us-east")
	if err != nil {
		t.Fatal(err)
	}
	c, err := d(context.Background(), "tcp", entry)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := medianPing(t, c, 5); got < 32*time.Millisecond {
		t.Errorf("us-east client to eu-west gateway RTT %v, want about 40ms", got)
	}
	if _, err := d(context.Background(), "tcp", "127.0.0.1:1"); err == nil {
		t.Error("client dialer dialled an address that is no entry point")
	}
}

func TestCloseRemovesProxiesFromExternalToxiproxyAndLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		// One network's embedded toxiproxy serves as the "external" one of another.
		host, err := NewNetwork(context.Background(), testTopology(), NetworkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer host.Close()
		nw, err := NewNetwork(context.Background(), testTopology(), NetworkOptions{ToxiproxyURL: "http://" + host.ToxiproxyAddr()})
		if err != nil {
			t.Fatal(err)
		}
		srv := startServer(t, echo)
		defer srv.Close()
		if err := nw.Register(usB, srv.Addr()); err != nil {
			t.Fatal(err)
		}
		l, err := nw.AddLink(context.Background(), LinkID{From: usA, To: usB})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, l.Listen)
		if _, err := ping(c, patience); err != nil {
			t.Fatal(err)
		}
		if _, err := partition(context.Background(), nw, l.ID); err != nil {
			t.Fatal(err)
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
		proxies, err := toxiclient.NewClient(host.ToxiproxyAddr()).Proxies()
		if err != nil {
			t.Fatal(err)
		}
		if len(proxies) != 0 {
			t.Errorf("proxies left after Close: %v", proxies)
		}
		_ = c.Close()
	}()
	expectGoroutinesBackTo(t, before)
}

// expectGoroutinesBackTo waits up to patience for the goroutine count to
// fall back to before, and fails with every stack if it does not.
func expectGoroutinesBackTo(t *testing.T, before int) {
	t.Helper()
	if waitFor(patience, func() bool { return runtime.NumGoroutine() <= before }) {
		return
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
}

func TestStallHoldsDataAndHealDeliversIt(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	id := LinkID{From: usA, To: usB}
	l := connectLink(t, nw, id, echo)
	c := dial(t, l.Listen)
	if _, err := ping(c, patience); err != nil {
		t.Fatal(err)
	}
	f, err := stall(context.Background(), nw, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ping(c, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("ping across a stalled link = %v, want a timeout", err)
	}
	if err := f.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The byte sent during the stall comes back on the same connection.
	if err := c.SetReadDeadline(time.Now().Add(patience)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("the stalled byte was not delivered after heal: %v", err)
	}
	if _, err := ping(c, patience); err != nil {
		t.Errorf("ping after heal: %v", err)
	}
}

func TestRegisterForRoutesLinksFromOneKindToASecondAddress(t *testing.T) {
	topo := testTopology()
	nw := newTestNetwork(t, topo, NetworkOptions{})
	raft, api := startServer(t, echo), startServer(t, echo)
	for _, n := range topo.LedgerNodes() {
		if err := nw.Register(n.ID, raft.Addr()); err != nil {
			t.Fatal(err)
		}
		if err := nw.RegisterFor(n.ID, KindGateway, api.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	gw := topo.GatewayNodes("us-east")[0].ID
	if l, ok := nw.Link(LinkID{From: gw, To: usA}); !ok || l.Upstream != api.Addr() {
		t.Fatalf("gateway→ledger link %+v, want upstream %s (the ledger's API)", l, api.Addr())
	}
	if l, ok := nw.Link(LinkID{From: usB, To: usA}); !ok || l.Upstream != raft.Addr() {
		t.Fatalf("ledger→ledger link %+v, want upstream %s (raft)", l, raft.Addr())
	}
	if err := nw.RegisterFor(usA, KindGateway, "10.0.0.1:80"); err == nil {
		t.Fatal("RegisterFor accepted an address off loopback")
	}
}

// TestToxicityZeroIsZero: a toxic turned down to toxicity 0 acts on no connection; only a toxic that
// names no toxicity acts on all of them (issue 10: 0 used to read as "unset" and became 1).
func TestToxicityZeroIsZero(t *testing.T) {
	nw := newTestNetwork(t, testTopology(), NetworkOptions{})
	ab := LinkID{From: usA, To: usB}
	connectLink(t, nw, ab, echo)
	ctx := context.Background()
	base := map[string]bool{}
	for _, n := range toxicNames(t, nw, ab) {
		base[n] = true
	}
	for _, tc := range []struct {
		toxic Toxic
		want  float32
	}{
		{BandwidthToxic(Forward, 100).WithToxicity(0), 0},
		{BandwidthToxic(Forward, 100).WithToxicity(0.25), 0.25},
		{BandwidthToxic(Forward, 100), 1},
	} {
		f, err := addToxics(ctx, nw, []Toxic{tc.toxic}, ab)
		if err != nil {
			t.Fatal(err)
		}
		p, err := toxiclient.NewClient(nw.ToxiproxyAddr()).Proxy(ab.ProxyName())
		if err != nil {
			t.Fatal(err)
		}
		var got []float32
		for _, x := range p.ActiveToxics {
			if !base[x.Name] {
				got = append(got, x.Toxicity)
			}
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("toxicity %v: toxiproxy holds %v", tc.want, got)
		}
		if err := f.Heal(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := addToxics(ctx, nw, []Toxic{BandwidthToxic(Forward, 100).WithToxicity(1.5)}, ab); err == nil {
		t.Error("toxicity 1.5 was accepted")
	}
}
