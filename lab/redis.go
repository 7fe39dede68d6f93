package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/faults"
	"paylab/nodes/gateway"
	"paylab/nodes/redisnode"
	"paylab/regions"
)

// startRedis starts each region's Redis when a gateway mechanism needs it (topology.gateways: cache, lock,
// idempotency or limiter on): a redis-server process per region on a loopback port, or the embedded
// miniredis when redis-server is not installed (announced on the terminal and in the summary's notes), or
// the server REDIS_URL names (loopback only; shared by every region, each region's keys under its own
// prefix). Each is registered as the region's Redis node, so every gateway reaches it through its own
// toxiproxy link.
func (l *Lab) startRedis(ctx context.Context) error {
	topo := l.s.Topology
	if !topo.Gateways.UsesRedis() {
		return nil
	}
	l.redis = map[string]*redisnode.Server{}
	for _, r := range topo.Regions {
		node, ok := topo.RedisNode(r.Name)
		if !ok {
			continue
		}
		srv, err := redisnode.Start(ctx, redisnode.Config{Name: string(node.ID), Dir: filepath.Join(l.opts.Dir, "redis-"+r.Name), URL: os.Getenv("REDIS_URL")})
		if err != nil {
			return fmt.Errorf("start %s: %w", node.ID, err)
		}
		l.mu.Lock()
		l.redis[r.Name] = srv
		l.mu.Unlock()
		if err := l.nw.Register(node.ID, srv.Addr()); err != nil {
			return fmt.Errorf("register %s: %w", node.ID, err)
		}
		if srv.Kind() == redisnode.KindEmbedded {
			note := fmt.Sprintf("%s: redis-server is not installed; the embedded miniredis serves instead (install redis-server for the real part)", node.ID)
			l.logf("%s", note)
			l.mu.Lock()
			l.notes = append(l.notes, note)
			l.mu.Unlock()
		}
		l.logf("redis: %s %s on %s", node.ID, srv.Kind(), srv.Addr())
	}
	return nil
}

// closeRedis stops the regions' Redis servers (an external one is left running) and closes the direct
// clients Redis handed out.
func (l *Lab) closeRedis() {
	l.mu.Lock()
	servers, direct := l.redis, l.direct
	l.redis, l.direct = nil, nil
	l.mu.Unlock()
	for _, c := range direct {
		_ = c.Close()
	}
	for _, s := range servers {
		s.Close()
	}
}

// redisOf returns a region's Redis server, or an error wrapping faults.ErrNoRedis.
func (l *Lab) redisOf(region string) (*redisnode.Server, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	srv, ok := l.redis[region]
	if !ok {
		return nil, fmt.Errorf("region %q: %w", region, faults.ErrNoRedis)
	}
	return srv, nil
}

// Redis returns a client connected straight to region's Redis (no toxiproxy link, so a fault's own commands
// are not slowed or cut by the faults on the gateways' links), and whether that server is shared by every
// region (REDIS_URL): a fault must then touch only the region's keys ("<region>:"). The client is the
// lab's, closed with it; callers do not close it. Without a Redis for the region (every gateway mechanism
// off) the error wraps faults.ErrNoRedis.
func (l *Lab) Redis(region string) (*redis.Client, bool, error) {
	srv, err := l.redisOf(region)
	if err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.direct[region]
	if !ok {
		if l.direct == nil {
			l.direct = map[string]*redis.Client{}
		}
		c = redis.NewClient(&redis.Options{Addr: srv.Addr(), DB: srv.DB(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
		l.direct[region] = c
	}
	return c, srv.Kind() == redisnode.KindExternal, nil
}

// crashRedis kills a region's Redis (a redis-server's process group gets SIGKILL); CrashNode has marked it
// down in the network first, so the gateways' links to it refuse.
func (l *Lab) crashRedis(region string, id regions.NodeID) error {
	srv, err := l.redisOf(region)
	if err != nil {
		return fmt.Errorf("crash %s: %w", id, err)
	}
	if err := srv.Kill(); err != nil {
		if errors.Is(err, redisnode.ErrStopped) {
			return fmt.Errorf("crash %s: %w", id, errors.Join(errAlreadyDown, err))
		}
		return fmt.Errorf("crash %s: %w", id, err)
	}
	return nil
}

// restartRedis starts a killed Redis again on its old address, empty as a restarted cache is.
func (l *Lab) restartRedis(ctx context.Context, region string, id regions.NodeID) error {
	srv, err := l.redisOf(region)
	if err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	if err := srv.Restart(ctx); err != nil {
		if errors.Is(err, redisnode.ErrRunning) {
			return fmt.Errorf("restart %s: %w", id, errors.Join(errAlreadyUp, err))
		}
		return fmt.Errorf("restart %s: %w", id, err)
	}
	return nil
}

// gatewayMechanisms gives a gateway's config its Redis-backed mechanisms as topology.gateways sets them,
// reaching the region's Redis through the gateway's own link (its toxiproxy proxy). It returns the Redis
// client, which the caller closes with the gateway for good; nil when no mechanism is on.
func (l *Lab) gatewayMechanisms(cfg *gateway.Config, id regions.NodeID, region string) (*redis.Client, error) {
	g := l.s.Topology.Gateways
	if !g.UsesRedis() {
		return nil, nil
	}
	node, _ := l.s.Topology.RedisNode(region)
	via, err := l.nw.Addr(regions.LinkID{From: id, To: node.ID})
	if err != nil {
		return nil, fmt.Errorf("gateway %s to its Redis: %w", id, err)
	}
	l.mu.Lock()
	srv := l.redis[region]
	l.mu.Unlock()
	rdb := redis.NewClient(&redis.Options{Addr: via, DB: srv.DB(), DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: 1})
	prefix := region + ":"
	fail := func(err error) (*redis.Client, error) {
		_ = rdb.Close()
		return nil, fmt.Errorf("gateway %s: %w", id, err)
	}
	cfg.Cache, cfg.Lock, cfg.IdempotencyMode = gateway.Mode(g.Cache), gateway.Mode(g.Lock), gateway.Mode(g.Idempotency)
	if cfg.Cache.On() {
		c, err := gateway.NewRedisBalanceCache(rdb, gateway.CacheConfig{Mode: cfg.Cache, TTL: g.CacheTTL, Prefix: prefix + "bal:"})
		if err != nil {
			return fail(err)
		}
		cfg.Balances = c
	}
	if cfg.Lock.On() {
		lk, err := gateway.NewRedisLocker(rdb, gateway.LockConfig{Mode: cfg.Lock, TTL: g.LockTTL, Prefix: prefix + "lock:"})
		if err != nil {
			return fail(err)
		}
		cfg.Locks = lk
	}
	if cfg.IdempotencyMode.On() {
		s, err := gateway.NewRedisIdempotency(rdb, g.IdempotencyTTL)
		if err != nil {
			return fail(err)
		}
		s.SetPrefix(prefix + "idem:")
		cfg.Idempotency = s
		if cfg.IdempotencyMode == gateway.ModeNaive {
			cfg.Claims = s
		}
	}
	if lim := g.Limiter; lim != nil {
		rl, err := gateway.NewRedisLimiter(rdb, gateway.LimiterConfig{Rate: lim.Rate, Burst: lim.Burst, GlobalRate: lim.GlobalRate, GlobalBurst: lim.GlobalBurst, OnError: gateway.FailPolicy(lim.OnError), Prefix: prefix + "rl:"})
		if err != nil {
			return fail(err)
		}
		cfg.Limiter = rl
	}
	return rdb, nil
}

// ChildPIDs returns the process ids of the lab's child processes (the regions' redis-server), whose CPU
// the health sampler counts as the lab's own.
func (l *Lab) ChildPIDs() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for _, s := range l.redis {
		if pid := s.Pid(); pid != 0 {
			out = append(out, pid)
		}
	}
	return out
}
