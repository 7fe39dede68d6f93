package lab

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"paylab/faults"
	"paylab/nodes/redisnode"
	"paylab/regions"
	"paylab/scenarios"
)

// TestRedisPerRegionThroughEachGatewaysLink: with gateway mechanisms on, each region gets its own Redis
// (redis-server when installed), every gateway reaches it through its own proxied link, and the servers are
// gone when the lab closes. Without mechanisms no Redis runs.
func TestRedisPerRegionThroughEachGatewaysLink(t *testing.T) {
	l := zoneLab(t, func(s *scenarios.Scenario) {
		s.Topology.Gateways.Cache, s.Topology.Gateways.Lock, s.Topology.Gateways.Idempotency = regions.ModeSafe, regions.ModeNaive, regions.ModeNaive
		s.Topology.Gateways.Limiter = &regions.Limiter{Rate: 100, Burst: 10, OnError: "open"}
	})
	_, installed := exec.LookPath("redis-server")
	var pids []int
	for _, r := range l.s.Topology.Regions {
		srv := l.redis[r.Name]
		if srv == nil {
			t.Fatalf("region %s has no Redis", r.Name)
		}
		if want := redisnode.KindServer; installed == nil && srv.Kind() != want {
			t.Fatalf("region %s: Redis is %s with redis-server installed", r.Name, srv.Kind())
		}
		pids = append(pids, srv.Pid())
	}
	for _, g := range l.gateways {
		if g.rdb == nil {
			t.Fatalf("gateway %s has no Redis client", g.id)
		}
		if err := g.rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("gateway %s cannot reach its Redis through its link: %v", g.id, err)
		}
		redisID, _ := l.s.Topology.RedisNode(g.cfg.Region)
		via, _ := l.nw.Addr(regions.LinkID{From: g.id, To: redisID.ID})
		if g.rdb.Options().Addr != via {
			t.Fatalf("gateway %s dials %s, not its link's proxy %s", g.id, g.rdb.Options().Addr, via)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if pid == 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("redis-server %d still running after the lab closed: %v", pid, err)
		}
	}
	plain := zoneLab(t, nil)
	if len(plain.redis) != 0 {
		t.Fatalf("a lab with every mechanism off started Redis: %v", plain.redis)
	}
}

// TestRedisCrashAndRestartThroughTheLab: a region's Redis is among the lab's Nodes; CrashNode kills it (its
// gateways' links refuse, the direct client fails too), RestartNode brings it back on the same address,
// empty, and the gateways reach it again through their links. Redis of a lab without it: ErrNoRedis.
func TestRedisCrashAndRestartThroughTheLab(t *testing.T) {
	l := zoneLab(t, func(s *scenarios.Scenario) { s.Topology.Gateways.Cache = regions.ModeNaive })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	region := l.s.Topology.Regions[0].Name
	node, _ := l.s.Topology.RedisNode(region)
	if !slices.Contains(l.Nodes(), node.ID) {
		t.Fatalf("Nodes() = %v, want %s among them", l.Nodes(), node.ID)
	}
	direct, shared, err := l.Redis(region)
	if err != nil || shared {
		t.Fatalf("Redis(%s) = shared %v, %v", region, shared, err)
	}
	if direct.Options().Addr != l.redis[region].Addr() {
		t.Fatalf("the direct client dials %s, not the server's %s", direct.Options().Addr, l.redis[region].Addr())
	}
	if err := direct.Set(ctx, region+":bal:1", "7", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var gw *gatewayNode
	for _, g := range l.gateways {
		if g.cfg.Region == region {
			gw = g
		}
	}
	addr := l.redis[region].Addr()
	if err := l.CrashNode(ctx, node.ID); err != nil {
		t.Fatal(err)
	}
	if err := gw.rdb.Ping(ctx).Err(); err == nil {
		t.Errorf("gateway %s reaches its Redis after the crash", gw.id)
	}
	if err := direct.Ping(ctx).Err(); err == nil {
		t.Error("the direct client reaches Redis after the crash")
	}
	if err := l.CrashNode(ctx, node.ID); !errors.Is(err, errAlreadyDown) {
		t.Errorf("second crash: %v, want already down", err)
	}
	if err := l.RestartNode(ctx, node.ID); err != nil {
		t.Fatal(err)
	}
	if got := l.redis[region].Addr(); got != addr {
		t.Errorf("Redis restarted on %s, want %s", got, addr)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := gw.rdb.Exists(ctx, region+":bal:1").Result()
		if err == nil {
			if n != 0 {
				t.Error("a key survived the Redis crash (a restarted cache is empty)")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s does not reach its Redis after the restart: %v", gw.id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	plain := zoneLab(t, nil)
	if _, _, err := plain.Redis(region); !errors.Is(err, faults.ErrNoRedis) {
		t.Errorf("Redis of a lab without it: %v, want faults.ErrNoRedis", err)
	}
	for _, id := range plain.Nodes() {
		if n, _ := plain.s.Topology.Node(id); n.Kind == regions.KindRedis {
			t.Errorf("a lab without Redis lists %s among its nodes", id)
		}
	}
}
