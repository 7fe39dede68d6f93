package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/nodes/ledger"
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
				held, err := rdb.Get(ctx, string(mode)+":acc-1").Result()
				switch mode {
				case ModeNaive:
					if !errors.Is(err, redis.Nil) {
						t.Fatalf("naive: after the expired holder's release the lock still holds %q (%v); the naive DEL frees b's lock", held, err)
					}
					if a.Fence() != 0 || b.Fence() != 0 {
						t.Fatal("naive leases carry fencing tokens")
					}
				case ModeSafe:
					if err != nil || held != strconv.FormatUint(b.Fence(), 10) {
						t.Fatalf("safe: a's late release left the lock holding %q (%v), want b's token %d", held, err, b.Fence())
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

// readers has n callers read one account at once through c and returns how many times the ledger was
// asked. load waits until every caller has started its Read (so a safe cache's other readers are all
// waiting on its rebuild) or, with inLoad, until all n callers are inside load (a naive cache's stampede:
// were the naive cache protected, this would wait out the 30 s patience and the count would be short).
func readers(t *testing.T, c *RedisBalanceCache, n int, account string, answer error, inLoad bool) int64 {
	t.Helper()
	var started, loads atomic.Int64
	all, allIn := make(chan struct{}), make(chan struct{})
	load := func(ctx context.Context) (ledger.AccountState, error) {
		if loads.Add(1) == int64(n) {
			close(allIn)
		}
		gate := all
		if inLoad {
			gate = allIn
		}
		select {
		case <-gate:
		case <-time.After(30 * time.Second):
			t.Error("not every reader started within 30 s")
		}
		return ledger.AccountState{ID: account, Balance: 7}, answer
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if started.Add(1) == int64(n) {
				close(all)
			}
			acc, _, err := c.Read(context.Background(), account, load)
			if answer == nil && (err != nil || acc.Balance != 7) {
				t.Errorf("read %+v %v", acc, err)
			}
		}()
	}
	wg.Wait()
	return loads.Load()
}

// TestBalanceCacheNaiveStampedesSafeRebuildsOnce: n readers of an uncached account cost the ledger n reads
// in naive mode (a breakdown) and one in safe mode; an absent account is asked for every time in naive mode
// (penetration) and once in safe mode (cached absence).
func TestBalanceCacheNaiveStampedesSafeRebuildsOnce(t *testing.T) {
	const n = 20
	for kind, rdb := range redisServers(t) {
		t.Run(string(kind), func(t *testing.T) {
			for _, mode := range []Mode{ModeNaive, ModeSafe} {
				c, err := NewRedisBalanceCache(rdb, CacheConfig{Mode: mode, TTL: time.Minute, Wait: 30 * time.Second, Prefix: string(kind) + string(mode) + ":"})
				if err != nil {
					t.Fatal(err)
				}
				loads := readers(t, c, n, "hot", nil, mode == ModeNaive)
				if want := map[Mode]int64{ModeNaive: n, ModeSafe: 1}[mode]; loads != want {
					t.Fatalf("%s: %d concurrent readers of a cold key made %d ledger reads, want %d", mode, n, loads, want)
				}
				absent := func(context.Context) (ledger.AccountState, error) { return ledger.AccountState{}, ledger.ErrNotFound }
				var asked int
				for range 3 {
					_, _, err := c.Read(context.Background(), "nobody", func(ctx context.Context) (ledger.AccountState, error) { asked++; return absent(ctx) })
					if !errors.Is(err, ledger.ErrNotFound) {
						t.Fatalf("%s: read of an absent account: %v, want ErrNotFound", mode, err)
					}
				}
				if want := map[Mode]int{ModeNaive: 3, ModeSafe: 1}[mode]; asked != want {
					t.Fatalf("%s: 3 reads of an absent account asked the ledger %d times, want %d", mode, asked, want)
				}
			}
		})
	}
}

// TestBalanceCacheSafeServesStaleWhileAnotherRebuilds and spreads its TTLs; the naive TTLs are all equal
// (keys warmed together expire together).
func TestBalanceCacheSafeServesStaleWhileAnotherRebuilds(t *testing.T) {
	for kind, rdb := range redisServers(t) {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			c, _ := NewRedisBalanceCache(rdb, CacheConfig{Mode: ModeSafe, TTL: time.Second, Prefix: string(kind) + "stale:"})
			now := time.Now()
			c.now = func() time.Time { return now }
			one := func(context.Context) (ledger.AccountState, error) {
				return ledger.AccountState{ID: "a", Balance: 1}, nil
			}
			if _, _, err := c.Read(ctx, "a", one); err != nil {
				t.Fatal(err)
			}
			now = now.Add(2 * time.Second) // past the TTL, within Stale
			if err := rdb.SetNX(ctx, string(kind)+"stale:a:rebuild", "1", time.Minute).Err(); err != nil {
				t.Fatal(err) // another gateway is rebuilding
			}
			acc, hit, err := c.Read(ctx, "a", func(context.Context) (ledger.AccountState, error) {
				t.Error("the ledger was asked while another gateway rebuilds and a stale value exists")
				return ledger.AccountState{}, nil
			})
			if err != nil || !hit || acc.Balance != 1 {
				t.Fatalf("stale read: %+v hit %v err %v", acc, hit, err)
			}
			for _, mode := range []Mode{ModeNaive, ModeSafe} {
				c, _ := NewRedisBalanceCache(rdb, CacheConfig{Mode: mode, TTL: 10 * time.Second, Prefix: string(kind) + "ttl" + string(mode) + ":"})
				lo, hi := time.Hour, time.Duration(0)
				for i := range 50 {
					id := fmt.Sprint("acc-", i)
					if _, _, err := c.Read(ctx, id, func(context.Context) (ledger.AccountState, error) { return ledger.AccountState{ID: id}, nil }); err != nil {
						t.Fatal(err)
					}
					raw, _ := rdb.Get(ctx, c.cfg.Prefix+id).Result()
					e, _ := decodeEntry(id, raw)
					d := time.Until(e.fresh)
					lo, hi = min(lo, d), max(hi, d)
				}
				spread := hi - lo
				if mode == ModeNaive && spread > time.Second || mode == ModeSafe && spread < time.Second {
					t.Fatalf("%s: 50 keys warmed together have fresh-until spread over %v", mode, spread)
				}
			}
		})
	}
}

// TestRedisIdempotencyForgetsAfterItsTTL: a claimed key refuses a second claim until it expires; a stored
// result is read back; after the TTL the payment can be claimed again — the naive mode's double charge.
func TestRedisIdempotencyForgetsAfterItsTTL(t *testing.T) {
	for kind, rdb := range redisServers(t) {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			s, err := NewRedisIdempotency(rdb, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			s.prefix = string(kind) + ":idem:"
			if ok, err := s.Claim(ctx, "pay-1"); !ok || err != nil {
				t.Fatalf("first claim: %v %v", ok, err)
			}
			if ok, _ := s.Claim(ctx, "pay-1"); ok {
				t.Fatal("a held key was claimed twice")
			}
			if _, _, ok, _ := s.Get(ctx, "pay-1"); ok {
				t.Fatal("a claim without a result read as decided")
			}
			tr := ledger.Transfer{ID: "pay-1", From: "a", To: "b", Amount: 5}
			if err := s.Put(ctx, tr, ledger.TransferResult{ID: "pay-1", Status: ledger.StatusCommitted, Index: 9}); err != nil {
				t.Fatal(err)
			}
			gt, gr, ok, err := s.Get(ctx, "pay-1")
			if !ok || err != nil || gt != tr || gr.Index != 9 {
				t.Fatalf("get: %+v %+v %v %v", gt, gr, ok, err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				if ok, err := s.Claim(ctx, "pay-1"); err != nil {
					t.Fatal(err)
				} else if ok {
					break // the key expired: the same payment is new again
				}
				if time.Now().After(deadline) {
					t.Fatal("the idempotency key never expired")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := NewRedisIdempotency(rdb, 0); err == nil {
				t.Fatal("a zero TTL was accepted")
			}
		})
	}
}
