package lab

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"

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
