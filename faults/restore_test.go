package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/regions"
	"paylab/results"
)

// state is everything a fault may change, read from the outside: the
// toxics on every proxy, which ledger nodes are up, what the lab DNS
// answers and how fast, and the clients' stale-cache fractions.
func (l *testLab) state(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, s := range l.toxics(t) {
		fmt.Fprintln(&b, s)
	}
	for i, id := range l.ids {
		fmt.Fprintf(&b, "%s up=%v\n", id, l.cluster.Node(i) != nil)
	}
	fmt.Fprintf(&b, "dns answering %v: %s\n", l.dns.Answering(), l.probeDNS(t))
	l.mu.Lock()
	for _, r := range l.topo.Regions {
		fmt.Fprintf(&b, "stale %s=%v\n", r.Name, l.stale[r.Name]) // never set reads 0, as the lab starts
	}
	l.mu.Unlock()
	return b.String()
}

// probeDNS resolves pay.lab. with a fresh resolver (no cache) and says what
// it answered and whether it can answer fast. "Slow" must not depend on the
// machine's speed: it means no lookup in slowProbes beat slowDNS, which is
// certain while a dns-slow fault with a longer delay is in place (the server
// waits before every answer) and practically impossible without one (a
// lookup takes about a millisecond, and a starved one is retried).
func (l *testLab) probeDNS(t *testing.T) string {
	t.Helper()
	const slowDNS, slowProbes = 40 * time.Millisecond, 3 * time.Second
	deadline := time.Now().Add(slowProbes)
	for {
		r, err := regions.NewResolver(regions.ResolverOptions{Server: l.dns.Addr(), Timeout: patience})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		addrs, err := r.LookupHost(context.Background(), "pay.lab")
		speed := "fast"
		if time.Since(start) >= slowDNS {
			speed = "slow"
		}
		if speed == "fast" || time.Now().After(deadline) {
			if err != nil {
				return "error " + speed
			}
			return fmt.Sprintf("%d addresses %s", len(addrs), speed)
		}
	}
}

// TestEveryFaultHealsToExactlyTheStateBefore injects and heals every kind
// of the catalogue on a real lab and compares the lab's whole fault state
// before the inject and after the heal; the inject must have changed it
// (except restart, which is over when injected), and a second heal must do
// nothing.
func TestEveryFaultHealsToExactlyTheStateBefore(t *testing.T) {
	lab := startTestLab(t)
	cases := []restoreCase{
		{"latency", "us-east", map[string]any{"latency": "5ms", "jitter": "1ms"}},
		{"bandwidth", "eu-west", map[string]any{"rate": 1000, "direction": "in"}},
		{"slicer", "ap-south/a", map[string]any{"average_size": 16, "delay": "10us"}},
		{"reset-peer", "ledger:ap-south/a->ledger:eu-west/a", map[string]any{"toxicity": 0.1}},
		{"partition", "us-east/a", nil},
		{"asymmetric-partition", "eu-west", map[string]any{"direction": "in"}},
		{"majority-minority", "", map[string]any{"leader": "majority"}},
		{"bridge", "ledger:ap-south/a", nil},
		{"majorities-ring", "", nil},
		{"leader-isolation", "", nil},
		{"crash", "ledger:ap-south/a", nil},
		{"restart", "ledger:eu-west/a", nil},
		{"pause", "ledger:eu-west/a", nil},
		{"rolling-restart", "", map[string]any{"downtime": "50ms", "interval": "100ms"}},
		{"leader-kill", "", nil},
		{"zone-down", "us-east/a", map[string]any{"mode": "crash"}},
		{"zone-down", "us-east/a", map[string]any{"mode": "partition"}},
		{"dns-remove-region", "eu-west", nil},
		{"dns-stale-cache", "", map[string]any{"fraction": 0.5}},
		{"dns-servfail", "", nil},
		{"dns-slow", "", map[string]any{"delay": "60ms"}},
	}
	covered := map[string]bool{}
	for _, c := range append(cases, redisRestoreCases...) {
		covered[c.kind] = true
	}
	for _, k := range Catalogue() {
		if !covered[k.Name] {
			t.Errorf("no case for %s", k.Name)
		}
	}
	for _, c := range cases {
		t.Run(c.kind+"/"+c.target, func(t *testing.T) {
			ctx := testCtx(t, 3*patience)
			lab.healthy(t)
			before := lab.state(t)
			f := mustNew(t, lab.topo, c.kind, c.target, c.params)
			inject(t, ctx, lab, f)
			_, oneShot := f.(OneShot)
			if c.kind == "rolling-restart" {
				waitRoll(t, ctx, lab, len(lab.ids)) // its effect: every node went down and came back
				oneShot = true
			}
			if during := lab.state(t); !oneShot && during == before {
				t.Errorf("inject changed nothing:\n%s", during)
			}
			heal(t, ctx, lab, f)
			lab.healthy(t)
			if after := lab.state(t); after != before {
				t.Errorf("state after heal differs from before\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// waitRoll waits until a rolling restart has restarted n nodes.
func waitRoll(t *testing.T, ctx context.Context, lab *testLab, n int) {
	t.Helper()
	restarted := func() int {
		k := 0
		for _, e := range lab.recorded() {
			if e.Name == "rolling-restart" && strings.HasPrefix(e.Detail, "restarted ") {
				k++
			}
		}
		return k
	}
	start := restarted()
	if !waitFor(ctx, patience, func() bool { return restarted()-start >= n }) {
		t.Fatalf("the roll restarted %d of %d nodes within %v; events %v", restarted()-start, n, patience, lab.recorded())
	}
}

// clockEnv is the test lab with its own run start, so a timeline's schedule
// starts now.
type clockEnv struct {
	*testLab
	start time.Time
}

func (c clockEnv) Elapsed() time.Duration { return time.Since(c.start) }

func TestTimelineRunsOnScheduleRecordsWindowsAndHealsTheRest(t *testing.T) {
	lab := startTestLab(t)
	pristine := lab.state(t)
	topo := lab.topo
	env := clockEnv{testLab: lab, start: time.Now()}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	steps := []Step{
		InjectAt(ms(100), mustNew(t, topo, "latency", "us-east", map[string]any{"latency": "5ms"})),
		{At: ms(200), Inject: mustNew(t, topo, "dns-servfail", "", nil), Pos: "t.yaml:3:5"},
		HealAt(ms(300), "latency", "us-east"),
		{At: ms(350), Inject: mustNew(t, topo, "pause", "ledger:eu-west/a", nil), Pos: "t.yaml:5:5"},
		InjectAt(ms(400), mustNew(t, topo, "restart", "ledger:ap-south/a", nil)),
		InjectAt(10*time.Minute, mustNew(t, topo, "partition", "us-east", nil)), // never reached
	}
	tl, err := NewTimeline(env, steps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	// Stop the run as Ctrl-C would, once the pause is in.
	if !waitFor(context.Background(), patience, func() bool { return len(tl.Active()) == 2 && len(recordedFaults(lab)) >= 2 }) {
		t.Fatalf("the timeline did not reach its 5th step; active %d, events %v", len(tl.Active()), lab.recorded())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if err := tl.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tl.Active()) != 0 {
		t.Errorf("%d faults active after HealAll", len(tl.Active()))
	}

	evs := recordedFaults(lab)
	names := make([]string, len(evs))
	for i, e := range evs {
		names[i] = e.Name
	}
	// latency healed by its step, restart over at once, then HealAll: the
	// pause (last in) before dns-servfail.
	if want := []string{"latency", "restart", "pause", "dns-servfail"}; !slices.Equal(names, want) {
		t.Fatalf("fault events %v, want %v", names, want)
	}
	byName := map[string]results.Event{}
	for _, e := range evs {
		byName[e.Name] = e
	}
	// An inject's At is when the step started, a heal's Until when the heal
	// returned. On real time only what the machine's speed cannot change is
	// judged: no step runs before its time, and each runs after the one before
	// it finished. That steps run on time is TestTimelineRunsExactlyOnSchedule,
	// in virtual time.
	notBefore := func(what string, got, want time.Duration) {
		if got < want {
			t.Errorf("%s at %v, before its time %v", what, got, want)
		}
	}
	notBefore("latency inject", byName["latency"].At, ms(100))
	notBefore("latency heal", byName["latency"].Until, ms(300))
	notBefore("dns-servfail inject", byName["dns-servfail"].At, ms(200))
	notBefore("pause inject", byName["pause"].At, ms(350))
	notBefore("restart", byName["restart"].At, ms(400))
	for _, o := range [][2]time.Duration{
		{byName["latency"].At, byName["dns-servfail"].At},
		{byName["dns-servfail"].At, byName["latency"].Until},
		{byName["latency"].Until, byName["pause"].At},
		{byName["pause"].At, byName["restart"].At},
	} {
		if o[0] > o[1] {
			t.Errorf("steps out of order: %v after %v; events %v", o[0], o[1], evs)
		}
	}
	if e := byName["restart"]; e.Until <= e.At || !strings.HasPrefix(e.Detail, "down for ") {
		t.Errorf("restart event %+v: want a window and how long the node was down", e)
	}
	if e := byName["pause"]; e.Until > byName["dns-servfail"].Until || !strings.Contains(e.Detail, "healed on the lab's way out") {
		t.Errorf("pause event %+v: want it healed first by HealAll", e)
	}
	lab.healthy(t)
	if got := lab.state(t); got != pristine {
		t.Errorf("state after HealAll differs from before the timeline\nbefore:\n%s\nafter:\n%s", pristine, got)
	}

	// A stopped timeline injects nothing more.
	if err := tl.runStep(context.Background(), steps[0]); err == nil {
		t.Error("a step after HealAll injected")
	}
}

func TestHealAllInADeferHealsWhenTheLabPanics(t *testing.T) {
	lab := startTestLab(t)
	pristine := lab.toxics(t)
	tl, err := NewTimeline(lab, []Step{InjectAt(0, mustNew(t, lab.topo, "partition", "ledger:us-east/a", nil))})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		defer func() {
			if err := tl.HealAll(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		if err := tl.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(lab.toxics(t), pristine) {
			t.Error("the partition added no toxics")
		}
		panic("the lab fails mid-run")
	}()
	if got := lab.toxics(t); !slices.Equal(got, pristine) {
		t.Errorf("toxics after the panic: %q, want %q", got, pristine)
	}
}

func recordedFaults(l *testLab) []results.Event {
	var out []results.Event
	for _, e := range l.recorded() {
		if e.Kind == results.EventFault {
			out = append(out, e)
		}
	}
	return out
}

// restoreCase is one fault to inject and heal.
type restoreCase struct {
	kind, target string
	params       map[string]any
}

// redisRestoreCases are the Redis faults: TestEveryRedisFaultHealsToExactlyTheStateBefore runs them on a
// lab that runs Redis (startRedisLab), and TestEveryFaultHealsToExactlyTheStateBefore counts them covered.
var redisRestoreCases = []restoreCase{
	{"redis-down", "us-east", nil},
	{"redis-latency", "us-east", map[string]any{"latency": "5ms", "jitter": "1ms"}},
	{"redis-partition", "gateway:us-east/b", nil},
	{"cache-flush", "us-east", nil},
	{"cache-avalanche", "us-east", nil},
}

// redisState is a Redis lab's fault state: the toxics on every proxy, and whether us-east's Redis is
// marked down, answers (straight and through each gateway's link, waiting for it), and where it listens.
// The data is not part of it: cache-flush and cache-avalanche remove data for good (heal: nothing to undo).
func (l *testLab) redisState(t *testing.T, ctx context.Context) string {
	t.Helper()
	var b strings.Builder
	for _, s := range l.toxics(t) {
		fmt.Fprintln(&b, s)
	}
	srv := l.redis["us-east"]
	direct, _, _ := l.Redis("us-east")
	answers := func(c *redis.Client) bool {
		// "no" after 5 s of tries: a healed Redis answers in milliseconds, a down or cut one never does
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return waitFor(pctx, 5*time.Second, func() bool { return c.Ping(pctx).Err() == nil })
	}
	fmt.Fprintf(&b, "%s down=%v addr=%s answers=%v\n", redisUS, l.nw.IsDown(redisUS), srv.Addr(), answers(direct))
	for _, g := range []regions.NodeID{gatewayA, gatewayB} {
		fmt.Fprintf(&b, "via %s answers=%v\n", g, answers(viaGateway(t, l, g)))
	}
	return b.String()
}

// TestEveryRedisFaultHealsToExactlyTheStateBefore: as TestEveryFaultHealsToExactlyTheStateBefore, for the
// Redis faults on a lab that runs Redis; the one-shot cache faults must change no state (they only remove
// data) and heal twice as nothing.
func TestEveryRedisFaultHealsToExactlyTheStateBefore(t *testing.T) {
	lab := startRedisLab(t)
	for _, c := range redisRestoreCases {
		t.Run(c.kind+"/"+c.target, func(t *testing.T) {
			ctx := testCtx(t, 3*patience)
			before := lab.redisState(t, ctx)
			f := mustNew(t, lab.topo, c.kind, c.target, c.params)
			inject(t, ctx, lab, f)
			_, oneShot := f.(OneShot)
			if during := lab.redisState(t, ctx); oneShot != (during == before) {
				t.Errorf("one-shot %v, yet the inject changed the state: %v\n%s", oneShot, during != before, during)
			}
			heal(t, ctx, lab, f) // twice: the second does nothing
			if after := lab.redisState(t, ctx); after != before {
				t.Errorf("state after heal differs from before\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
