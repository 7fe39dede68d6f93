package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/nodes/redisnode"
)

// redisServers starts each kind of Redis the lab can run on this machine: the redis-server process when
// installed, and the embedded fallback always. Every Redis-backed mechanism is tested on each.
func redisServers(t *testing.T) map[redisnode.Kind]*redis.Client {
	t.Helper()
	out := map[redisnode.Kind]*redis.Client{}
	for _, bin := range []string{"", "/nonexistent/redis-server"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := redisnode.Start(ctx, redisnode.Config{Name: "redis:test", Binary: bin})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if _, seen := out[s.Kind()]; seen {
			continue
		}
		c := s.Client("")
		t.Cleanup(func() { c.Close() })
		out[s.Kind()] = c
	}
	return out
}

func TestRedisLimiterTokenBuckets(t *testing.T) {
	for kind, rdb := range redisServers(t) {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			now := time.Unix(1_700_000_000, 0)
			l, err := NewRedisLimiter(rdb, LimiterConfig{Rate: 1, Burst: 3, GlobalRate: 0.001, GlobalBurst: 5, Prefix: "t1:"})
			if err != nil {
				t.Fatal(err)
			}
			l.now = func() time.Time { return now }
			for i := range 3 {
				if ok, _, err := l.Allow(ctx, "acc-1"); !ok || err != nil {
					t.Fatalf("request %d within the burst refused: %v", i, err)
				}
			}
			ok, retry, err := l.Allow(ctx, "acc-1")
			if ok || err != nil || retry <= 0 || retry > time.Second {
				t.Fatalf("4th request: ok %v retry %v err %v; want refused with 0 < retry ≤ 1s", ok, retry, err)
			}
			now = now.Add(time.Second)
			if ok, _, _ := l.Allow(ctx, "acc-1"); !ok {
				t.Fatal("a token that refilled after 1 s was refused")
			}
			// The global bucket (burst 5) has given 4 tokens: one more for another key, then none.
			if ok, _, _ := l.Allow(ctx, "acc-2"); !ok {
				t.Fatal("the 5th request overall was refused by the global bucket")
			}
			if ok, _, _ := l.Allow(ctx, "acc-3"); ok {
				t.Fatal("the global bucket let a 6th request through within its burst")
			}
		})
	}
}

func TestRedisLimiterFailPolicy(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer dead.Close()
	open, _ := NewRedisLimiter(dead, LimiterConfig{Rate: 1, Burst: 1, OnError: FailOpen})
	if ok, _, err := open.Allow(context.Background(), "a"); !ok || err != nil {
		t.Fatalf("fail-open with Redis down: ok %v err %v, want allowed", ok, err)
	}
	closed, _ := NewRedisLimiter(dead, LimiterConfig{Rate: 1, Burst: 1, OnError: FailClosed})
	if ok, _, err := closed.Allow(context.Background(), "a"); ok || !errors.Is(err, ErrLimiterUnavailable) {
		t.Fatalf("fail-closed with Redis down: ok %v err %v, want refused with ErrLimiterUnavailable", ok, err)
	}
	for _, bad := range []LimiterConfig{{Rate: -1}, {Rate: 1}, {GlobalRate: 2, GlobalBurst: 0}, {OnError: "maybe"}} {
		if _, err := NewRedisLimiter(dead, bad); err == nil {
			t.Fatalf("config %+v accepted", bad)
		}
	}
}

// TestRedisLockNaiveFreesAnotherHolder shows the naive lock's flaw the lock-holder-pause scenario relies
// on, and that the safe lock has neither half of it: a holder past its TTL releases the next holder's lock
// (naive) — the safe lock's release leaves it, and its tokens grow so the ledger can refuse the late write.
func TestRedisLockNaiveFreesAnotherHolder(t *testing.T) {
	for kind, rdb := range redisServers(t) {
		t.Run(string(kind), func(t *testing.T) {
			for _, mode := range []Mode{ModeNaive, ModeSafe} {
				l, err := NewRedisLocker(rdb, LockConfig{Mode: mode, TTL: 30 * time.Millisecond, Retry: time.Millisecond, Prefix: string(mode) + ":"})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				a, err := l.Lock(ctx, "acc-1")
				if err != nil {
					t.Fatal(err)
				}
				// b waits until a's TTL runs out (a is "paused").
				b, err := l.Lock(ctx, "acc-1")
				if err != nil {
					t.Fatal(err)
				}
				a.Release(ctx) // a wakes up and releases
				short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
				_, err = l.Lock(short, "acc-1") // while b still holds it
				cancelShort()
				switch mode {
				case ModeNaive:
					if err != nil {
						t.Fatalf("naive: a third holder could not take the lock a's release freed: %v", err)
					}
					if a.Fence() != 0 || b.Fence() != 0 {
						t.Fatal("naive leases carry fencing tokens")
					}
				case ModeSafe:
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("safe: a's late release freed b's lock (third Lock: %v)", err)
					}
					if b.Fence() <= a.Fence() || a.Fence() == 0 {
						t.Fatalf("safe: tokens a=%d b=%d, want 0 < a < b", a.Fence(), b.Fence())
					}
				}
				b.Release(ctx)
				cancel()
			}
		})
	}
}
