package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"paylab/regions"
)

// The Redis faults (issue 12): each region's Redis, run by the lab when a
// gateway mechanism is on, and the gateways' links to it.

// Target grammars of the Redis faults.
const (
	targetRedisRegion = "a region (us-east): its Redis"
	targetGateway     = "one gateway (gateway:us-east/a): its link to its region's Redis"
)

// balancePrefix is where the lab's gateways cache balances in a region's
// Redis ("<region>:bal:"; lab.gatewayMechanisms).
func balancePrefix(region string) string { return region + ":bal:" }

// redisRegion reads a target naming exactly one region of topo, and checks
// the topology runs Redis at all.
func redisRegion(topo regions.Topology, target string) (string, regions.Node, error) {
	region := strings.TrimSpace(target)
	if region == "" {
		return "", regions.Node{}, targetError(target, fmt.Errorf("a target is required: %s", targetRedisRegion))
	}
	if strings.ContainsAny(region, ",/:") {
		return "", regions.Node{}, targetError(target, fmt.Errorf("this fault takes %s", targetRedisRegion))
	}
	if _, ok := topo.Region(region); !ok {
		return "", regions.Node{}, targetError(target, fmt.Errorf("no region %q in the topology", region))
	}
	if err := requireRedis(topo); err != nil {
		return "", regions.Node{}, targetError(target, err)
	}
	node, ok := topo.RedisNode(region)
	if !ok {
		return "", regions.Node{}, targetError(target, fmt.Errorf("region %q has no zone for its Redis", region))
	}
	return region, node, nil
}

// requireRedis refuses a topology whose gateways use no Redis.
func requireRedis(topo regions.Topology) error {
	if !topo.Gateways.UsesRedis() {
		return fmt.Errorf("%w (turn one on in topology.gateways)", ErrNoRedis)
	}
	return nil
}

// newRedisDown crashes a region's Redis; heal starts it again on its
// address, empty.
func newRedisDown(topo regions.Topology, target string) (Fault, error) {
	region, node, err := redisRegion(topo, target)
	if err != nil {
		return nil, err
	}
	return &processFault{name: "redis-down", target: target, pick: func(env Env) ([]regions.NodeID, string, error) {
		if _, _, err := env.Redis(region); err != nil {
			return nil, "", err
		}
		return []regions.NodeID{node.ID}, "", nil
	}}, nil
}

// redisLinks returns the links from a region's gateways to its Redis.
func redisLinks(topo regions.Topology, region string, redisID regions.NodeID) []regions.LinkID {
	var out []regions.LinkID
	for _, g := range topo.GatewayNodes(region) {
		out = append(out, regions.LinkID{From: g.ID, To: redisID})
	}
	return out
}

// newRedisLatency adds latency (± jitter) to both directions of every
// gateway→Redis link of a region.
func newRedisLatency(topo regions.Topology, target string, v values) (Fault, error) {
	lat, jit := v.dur("latency"), v.dur("jitter")
	if jit > lat {
		return nil, fmt.Errorf("parameter jitter: %v is more than latency %v", jit, lat)
	}
	region, node, err := redisRegion(topo, target)
	if err != nil {
		return nil, err
	}
	links := redisLinks(topo, region, node.ID)
	if len(links) == 0 {
		return nil, targetError(target, fmt.Errorf("region %q has no gateway", region))
	}
	toxicity := float32(v.frac("toxicity"))
	var toxics []regions.LinkToxic
	for _, l := range links {
		toxics = append(toxics, regions.LinkToxic{Link: l, Toxic: regions.LatencyToxic(regions.Both, lat, jit).WithToxicity(toxicity)})
	}
	return &linkFault{name: "redis-latency", target: target, plan: func(Env) (linkPlan, error) {
		return linkPlan{toxics: toxics}, nil
	}}, nil
}

// newRedisPartition cuts one gateway's link to its region's Redis, both
// directions, closing its live connections.
func newRedisPartition(topo regions.Topology, target string) (Fault, error) {
	id := regions.NodeID(strings.TrimSpace(target))
	if id == "" {
		return nil, targetError(target, fmt.Errorf("a target is required: %s", targetGateway))
	}
	n, ok := topo.Node(id)
	if !ok {
		return nil, targetError(target, fmt.Errorf("no node %s in the topology", id))
	}
	if n.Kind != regions.KindGateway {
		return nil, targetError(target, fmt.Errorf("%s is not a gateway; this fault takes %s", id, targetGateway))
	}
	if err := requireRedis(topo); err != nil {
		return nil, targetError(target, err)
	}
	r, _ := topo.RedisNode(n.Placement.Region)
	link := regions.LinkID{From: id, To: r.ID}
	toxics := []regions.LinkToxic{{Link: link, Toxic: regions.TimeoutToxic(regions.Both, 0)}}
	return &linkFault{name: "redis-partition", target: target, plan: func(Env) (linkPlan, error) {
		return linkPlan{toxics: toxics, close: true, detail: "cut " + link.String()}, nil
	}}, nil
}

// cacheFault runs one set of commands on a region's Redis (cache-flush,
// cache-avalanche): the data it removes is gone, so it is over when Inject
// returns and Heal has nothing to undo (the keys refill as gateways miss).
type cacheFault struct {
	name, target, region string
	// act does the fault on the region's Redis and says what it did.
	act func(ctx context.Context, rdb *redis.Client, shared bool) (string, error)

	mu     sync.Mutex
	detail string
}

func (f *cacheFault) Name() string   { return f.name }
func (f *cacheFault) Target() string { return f.target }

// OneShot marks the fault as over when Inject returns.
func (f *cacheFault) OneShot() {}

// Detail says what the last inject removed.
func (f *cacheFault) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.detail
}

// Inject runs the fault's commands on the region's Redis, directly (not
// through a gateway's link).
func (f *cacheFault) Inject(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rdb, shared, err := env.Redis(f.region)
	if err == nil {
		f.detail, err = f.act(ctx, rdb, shared)
	}
	if err != nil {
		return fmt.Errorf("inject %s on %q: %w", f.name, f.target, err)
	}
	return nil
}

// Heal has nothing to undo: the keys refill as the gateways miss.
func (f *cacheFault) Heal(context.Context, Env) error { return nil }

// scanBatch is how many keys one SCAN step asks for.
const scanBatch = 1000

// eachKey calls f with every batch of keys matching pattern.
func eachKey(ctx context.Context, rdb *redis.Client, pattern string, f func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, pattern, scanBatch).Result()
		if err != nil {
			return fmt.Errorf("scan %s: %w", pattern, err)
		}
		if len(keys) > 0 {
			if err := f(keys); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// deleteMatching deletes every key matching pattern and returns how many.
func deleteMatching(ctx context.Context, rdb *redis.Client, pattern string) (int64, error) {
	var n int64
	err := eachKey(ctx, rdb, pattern, func(keys []string) error {
		d, err := rdb.Del(ctx, keys...).Result()
		n += d
		if err != nil {
			return fmt.Errorf("del: %w", err)
		}
		return nil
	})
	return n, err
}

// newCacheFlush empties a region's Redis: FLUSHALL on the lab's own server;
// on a server shared by every region (REDIS_URL), the region's keys only.
func newCacheFlush(topo regions.Topology, target string) (Fault, error) {
	region, _, err := redisRegion(topo, target)
	if err != nil {
		return nil, err
	}
	return &cacheFault{name: "cache-flush", target: target, region: region, act: func(ctx context.Context, rdb *redis.Client, shared bool) (string, error) {
		if shared {
			n, err := deleteMatching(ctx, rdb, region+":*")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("deleted the region's %d keys (shared server)", n), nil
		}
		n, err := rdb.DBSize(ctx).Result()
		if err != nil {
			return "", fmt.Errorf("dbsize: %w", err)
		}
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			return "", fmt.Errorf("flushall: %w", err)
		}
		return fmt.Sprintf("FLUSHALL: %d keys gone", n), nil
	}}, nil
}

// newCacheAvalanche makes every cached balance of a region expire at one
// instant: SCAN of "<region>:bal:*", then PEXPIREAT of one millisecond
// after the server's clock read once, for all of them.
func newCacheAvalanche(topo regions.Topology, target string) (Fault, error) {
	region, _, err := redisRegion(topo, target)
	if err != nil {
		return nil, err
	}
	return &cacheFault{name: "cache-avalanche", target: target, region: region, act: func(ctx context.Context, rdb *redis.Client, _ bool) (string, error) {
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			return "", fmt.Errorf("time: %w", err)
		}
		at := now.Add(1e6) // 1 ms
		var n int
		err = eachKey(ctx, rdb, balancePrefix(region)+"*", func(keys []string) error {
			cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.PExpireAt(ctx, k, at)
				}
				return nil
			})
			if err != nil { // the first command's failure
				return fmt.Errorf("pexpireat: %w", err)
			}
			for _, c := range cmds {
				if c.(*redis.BoolCmd).Val() {
					n++ // a key that expired between SCAN and PEXPIREAT is not counted
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d cached balances expire at once", n), nil
	}}, nil
}
