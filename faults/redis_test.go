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

	"paylab/nodes/redisnode"
	"paylab/regions"
)

// redisTopology is labTopology with the naive cache on (so the regions run Redis) and two gateways per
// region: us-east's are gateway:us-east/a and gateway:us-east/b, its Redis redis:us-east/a.
func redisTopology() regions.Topology {
	topo := labTopology()
	topo.Gateways.PerRegion = 2
	topo.Gateways.Cache = regions.ModeNaive
	return topo
}

// startRedisLab is a testLab without ledger or DNS: a real network (embedded toxiproxy) and us-east's
// Redis (redis-server when installed, else the embedded one), registered as its node, with a proxy for
// each of the region's gateway→Redis links. The test stands in for the gateways, dialling those proxies.
func startRedisLab(t *testing.T) *testLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	l := &testLab{topo: redisTopology(), start: time.Now(), resolvers: map[string][]*regions.Resolver{}, stale: map[string]float64{},
		redis: map[string]*redisnode.Server{}, direct: map[string]*redis.Client{}}
	var err error
	if l.nw, err = regions.NewNetwork(ctx, l.topo, regions.NetworkOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.nw.Close(); err != nil {
			t.Errorf("close network: %v", err)
		}
	})
	srv, err := redisnode.Start(ctx, redisnode.Config{Name: "redis:us-east/a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Logf("us-east's Redis: %s on %s", srv.Kind(), srv.Addr())
	l.redis["us-east"] = srv
	t.Cleanup(func() {
		for _, c := range l.direct {
			_ = c.Close()
		}
	})
	node, _ := l.topo.RedisNode("us-east")
	if err := l.nw.Register(node.ID, srv.Addr()); err != nil {
		t.Fatal(err)
	}
	for _, link := range redisLinks(l.topo, "us-east", node.ID) {
		if _, err := l.nw.AddLink(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

const (
	gatewayA = regions.NodeID("gateway:us-east/a")
	gatewayB = regions.NodeID("gateway:us-east/b")
	redisUS  = regions.NodeID("redis:us-east/a")
)

// viaGateway is a client of us-east's Redis through gateway's link (its toxiproxy proxy), as that gateway
// reaches it; short timeouts and no retries, so a cut link shows as an error soon.
func viaGateway(t *testing.T, l *testLab, gateway regions.NodeID) *redis.Client {
	t.Helper()
	addr, err := l.nw.Addr(regions.LinkID{From: gateway, To: redisUS})
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, PoolSize: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisDownKillsTheRegionsRedisAndHealRestartsItEmptyOnTheSamePort(t *testing.T) {
	l := startRedisLab(t)
	ctx := testCtx(t, 2*patience)
	f := mustNew(t, l.topo, "redis-down", "us-east", nil)
	if !slices.Contains(l.Nodes(), redisUS) {
		t.Fatalf("Nodes() = %v, want %s among them", l.Nodes(), redisUS)
	}
	c := viaGateway(t, l, gatewayA)
	if err := c.Set(ctx, "us-east:bal:1", "100", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv := l.redis["us-east"]
	addr, pid := srv.Addr(), srv.Pid()
	if err := f.Inject(ctx, l); err != nil {
		t.Fatal(err)
	}
	if d := f.(Detailer).Detail(); d != "crashed "+string(redisUS) {
		t.Errorf("detail %q", d)
	}
	if err := f.Inject(ctx, l); err == nil {
		t.Error("a second inject succeeded")
	}
	if !l.nw.IsDown(redisUS) {
		t.Error("the network does not mark the Redis node down")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("PING through the gateway's link answered with Redis down")
	}
	direct, _, _ := l.Redis("us-east")
	if err := direct.Ping(ctx).Err(); err == nil {
		t.Error("PING straight to the server answered with Redis down")
	}
	if pid != 0 && srv.Pid() != 0 {
		t.Errorf("redis-server pid %d after the kill, want none", srv.Pid())
	}
	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := f.Heal(ctx, l); err != nil {
		t.Fatalf("second heal: %v", err)
	}
	if srv.Addr() != addr {
		t.Errorf("restarted on %s, want the same address %s", srv.Addr(), addr)
	}
	var n int64
	var err error
	if !waitFor(ctx, patience, func() bool { n, err = c.Exists(ctx, "us-east:bal:1").Result(); return err == nil }) {
		t.Fatalf("Redis does not answer through the gateway's link after heal: %v", err)
	}
	if n != 0 {
		t.Error("a key set before the kill survived the restart (a restarted cache is empty)")
	}
	if l.nw.IsDown(redisUS) {
		t.Error("the Redis node is still marked down after heal")
	}
}

func TestRedisLatencyOnEveryGatewayLinkOfTheRegionAndHealRemovesExactlyIt(t *testing.T) {
	l := startRedisLab(t)
	ctx := testCtx(t, 2*patience)
	before := l.toxics(t)
	f := mustNew(t, l.topo, "redis-latency", "us-east", map[string]any{"latency": "150ms", "jitter": "10ms"})
	if err := f.Inject(ctx, l); err != nil {
		t.Fatal(err)
	}
	for _, g := range []regions.NodeID{gatewayA, gatewayB} {
		link := regions.LinkID{From: g, To: redisUS}
		got := linkLatency(t, l, link)
		for _, stream := range []string{"upstream", "downstream"} {
			// matrix latency (1 ms: the same zone or another of the region) plus the fault's 150 ms
			if got[stream] < 150*time.Millisecond {
				t.Errorf("%s %s: %v of latency toxics, want the fault's 150ms on it", link, stream, got[stream])
			}
		}
	}
	// What the gateway sees, judged with a bound a busy machine cannot break: a command's round trip
	// crosses both directions, at least (150 − 10) ms each, and toxiproxy can only add; half, for the
	// stacked-toxic timing noted in latency_test.go.
	c := viaGateway(t, l, gatewayB)
	if err := c.Ping(ctx).Err(); err != nil { // the connection; then one timed command
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 140*time.Millisecond {
		t.Errorf("PING through %s's link took %v under 150ms ± 10ms latency each way", gatewayB, took)
	}
	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
	if after := l.toxics(t); !slices.Equal(after, before) {
		t.Errorf("toxics after heal differ from before:\nbefore %v\nafter  %v", before, after)
	}
}

func TestRedisPartitionCutsOneGatewayOffItsRedisOnly(t *testing.T) {
	l := startRedisLab(t)
	ctx := testCtx(t, 2*patience)
	a, b := viaGateway(t, l, gatewayA), viaGateway(t, l, gatewayB)
	for _, c := range []*redis.Client{a, b} {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	before := l.toxics(t)
	f := mustNew(t, l.topo, "redis-partition", string(gatewayA), nil)
	if err := f.Inject(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := a.Ping(ctx).Err(); err == nil {
		t.Errorf("%s still reaches its Redis through a partitioned link", gatewayA)
	}
	if err := b.Ping(ctx).Err(); err != nil {
		t.Errorf("%s lost its Redis to a partition of %s: %v", gatewayB, gatewayA, err)
	}
	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
	if after := l.toxics(t); !slices.Equal(after, before) {
		t.Errorf("toxics after heal differ from before:\nbefore %v\nafter  %v", before, after)
	}
	var err error
	if !waitFor(ctx, patience, func() bool { err = a.Ping(ctx).Err(); return err == nil }) {
		t.Fatalf("%s does not reach its Redis after heal: %v", gatewayA, err)
	}
}

// fill sets n keys under each prefix, with ttl (0: none).
func fill(t *testing.T, ctx context.Context, c *redis.Client, n int, ttl time.Duration, prefixes ...string) {
	t.Helper()
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, prefix := range prefixes {
			for i := range n {
				p.Set(ctx, fmt.Sprintf("%s%d", prefix, i), "v", ttl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCacheFlushEmptiesTheRegionsRedisAndHasNothingToHeal(t *testing.T) {
	l := startRedisLab(t)
	ctx := testCtx(t, 2*patience)
	c, _, _ := l.Redis("us-east")
	fill(t, ctx, c, 50, time.Hour, "us-east:bal:", "us-east:lock:", "us-east:idem:")
	f := mustNew(t, l.topo, "cache-flush", "us-east", nil)
	if _, ok := f.(OneShot); !ok {
		t.Error("cache-flush is not over when injected (OneShot)")
	}
	if err := f.Inject(ctx, l); err != nil {
		t.Fatal(err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("DBSIZE after cache-flush = %d, %v; want 0", n, err)
	}
	if d := f.(Detailer).Detail(); d != "FLUSHALL: 150 keys gone" {
		t.Errorf("detail %q", d)
	}
	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
}

func TestCacheAvalancheExpiresEveryCachedBalanceAtOnceAndNothingElse(t *testing.T) {
	l := startRedisLab(t)
	ctx := testCtx(t, 2*patience)
	c, _, _ := l.Redis("us-east")
	fill(t, ctx, c, 1500, time.Hour, "us-east:bal:") // more than one SCAN batch
	fill(t, ctx, c, 20, time.Hour, "us-east:lock:")
	fill(t, ctx, c, 20, 0, "us-east:idem:", "eu-west:bal:")
	f := mustNew(t, l.topo, "cache-avalanche", "us-east", nil)
	if err := f.Inject(ctx, l); err != nil {
		t.Fatal(err)
	}
	if d := f.(Detailer).Detail(); d != "1500 cached balances expire at once" {
		t.Errorf("detail %q", d)
	}
	count := func(pattern string) int {
		n := 0
		if err := eachKey(ctx, c, pattern, func(keys []string) error { n += len(keys); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if !waitFor(ctx, patience, func() bool { return count("us-east:bal:*") == 0 }) {
		t.Fatalf("%d cached balances left after the avalanche", count("us-east:bal:*"))
	}
	for pattern, want := range map[string]int{"us-east:lock:*": 20, "us-east:idem:*": 20, "eu-west:bal:*": 20} {
		if got := count(pattern); got != want {
			t.Errorf("%s: %d keys after the avalanche, want %d untouched", pattern, got, want)
		}
	}
	if ttl, err := c.TTL(ctx, "us-east:lock:0").Result(); err != nil || ttl <= time.Minute {
		t.Errorf("a lock's TTL after the avalanche = %v, %v; want its hour", ttl, err)
	}
	if err := f.Heal(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// TestRedisFaultsNeedRedis: every Redis fault is refused on a topology whose gateway mechanisms are all off
// (validate sees it), and fails to inject, with ErrNoRedis, on a lab that runs no Redis.
func TestRedisFaultsNeedRedis(t *testing.T) {
	topo := labTopology() // every mechanism off
	for _, c := range []struct{ kind, target string }{
		{"redis-down", "us-east"}, {"redis-latency", "us-east"}, {"redis-partition", "gateway:us-east/a"},
		{"cache-flush", "us-east"}, {"cache-avalanche", "us-east"},
	} {
		k, _ := Lookup(c.kind)
		var params map[string]any
		if c.kind == "redis-latency" {
			params = map[string]any{"latency": "10ms"}
		}
		if _, err := k.New(topo, c.target, params); !errors.Is(err, ErrNoRedis) {
			t.Errorf("%s on a topology without Redis: %v, want ErrNoRedis", c.kind, err)
		}
		f, err := k.New(redisTopology(), c.target, params)
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if c.kind == "redis-latency" || c.kind == "redis-partition" {
			continue // link faults: a lab without Redis has no such link (ErrNoLinks, tested with the network faults)
		}
		if err := f.Inject(context.Background(), &clockLab{start: time.Now()}); !errors.Is(err, ErrNoRedis) {
			t.Errorf("%s injected on a lab without Redis: %v, want ErrNoRedis", c.kind, err)
		}
	}
}

func TestRedisFaultTargetsAndParameters(t *testing.T) {
	topo := redisTopology()
	cases := []struct {
		kind, target string
		params       map[string]any
		wantErr      string // "" means valid
	}{
		{"redis-down", "us-east", nil, ""},
		{"redis-down", "us-east/a", nil, "this fault takes a region (us-east): its Redis"},
		{"redis-down", "mars", nil, `no region "mars" in the topology`},
		{"redis-down", "", nil, "a target is required"},
		{"redis-latency", "eu-west", map[string]any{"latency": "20ms", "jitter": "5ms", "toxicity": "50%"}, ""},
		{"redis-latency", "us-east", map[string]any{"latency": "10ms", "jitter": "20ms"}, "parameter jitter: 20ms is more than latency 10ms"},
		{"redis-latency", "us-east", nil, "parameter latency is required"},
		{"redis-latency", "us-east", map[string]any{"latency": "10ms", "direction": "out"}, `unknown parameter "direction"`},
		{"redis-partition", "gateway:us-east/b", nil, ""},
		{"redis-partition", "ledger:us-east/a", nil, "ledger:us-east/a is not a gateway"},
		{"redis-partition", "gateway:us-east/c", nil, "no node gateway:us-east/c in the topology"},
		{"redis-partition", "us-east", nil, "no node us-east in the topology"},
		{"cache-flush", "ap-south", nil, ""},
		{"cache-flush", "us-east", map[string]any{"mode": "all"}, `unknown parameter "mode"`},
		{"cache-avalanche", "us-east", nil, ""},
		{"cache-avalanche", "us-east,eu-west", nil, "this fault takes a region"},
	}
	for _, c := range cases {
		k, _ := Lookup(c.kind)
		f, err := k.New(topo, c.target, c.params)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s %q: %v", c.kind, c.target, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("%s %q: no error, want %q", c.kind, c.target, c.wantErr)
		case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("%s %q: error %q, want it to contain %q", c.kind, c.target, err, c.wantErr)
		case err == nil && (f.Name() != c.kind || f.Target() != c.target):
			t.Errorf("%s %q: built %s %q", c.kind, c.target, f.Name(), f.Target())
		}
	}
}

// TestZoneDownAndCrashTakeTheRegionsRedis: the Redis node is one the Env runs, so zone-down of its zone
// and crash of its id take it down (links refused) and heal brings it back.
func TestZoneDownAndCrashTakeTheRegionsRedis(t *testing.T) {
	l := startRedisLab(t)
	ctx := testCtx(t, 2*patience)
	c := viaGateway(t, l, gatewayB)
	for _, step := range []struct{ kind, target string }{{"zone-down", "us-east/a"}, {"crash", string(redisUS)}} {
		f := mustNew(t, l.topo, step.kind, step.target, nil)
		if err := f.Inject(ctx, l); err != nil {
			t.Fatalf("%s %s: %v", step.kind, step.target, err)
		}
		if d := f.(Detailer).Detail(); !strings.Contains(d, "crashed "+string(redisUS)) {
			t.Errorf("%s %s: detail %q, want %s crashed", step.kind, step.target, d, redisUS)
		}
		if !l.nw.IsDown(redisUS) || c.Ping(ctx).Err() == nil {
			t.Errorf("%s %s: Redis still up (marked down %v)", step.kind, step.target, l.nw.IsDown(redisUS))
		}
		heal(t, ctx, l, f)
		var err error
		if !waitFor(ctx, patience, func() bool { err = c.Ping(ctx).Err(); return err == nil }) {
			t.Fatalf("%s %s: Redis does not answer after heal: %v", step.kind, step.target, err)
		}
	}
}
