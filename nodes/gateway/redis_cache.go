package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
)

// CacheConfig sets a RedisBalanceCache (cache-aside of account reads).
type CacheConfig struct {
	// Mode: ModeNaive caches every key for exactly TTL and protects nothing — keys warmed together expire
	// together (an avalanche: every reader goes to the ledger at once), a hot key's expiry sends all its
	// readers to the ledger (breakdown), and reads of absent accounts always reach the ledger (penetration).
	// ModeSafe spreads expiries (TTL × (1 ± Jitter)), rebuilds a key once at a time (singleflight in the
	// process, a short Redis mutex across gateways), caches absence for NegativeTTL, and serves the stale
	// value for up to Stale past its TTL while one caller refreshes it.
	Mode Mode
	// TTL is how long a cached read is fresh (default 2 s).
	TTL time.Duration
	// Jitter is the safe mode's spread of TTLs, a fraction of TTL in [0, 0.5] (default 0.2).
	Jitter float64
	// Stale is how long past its TTL the safe mode may serve a value while it is rebuilt (default TTL).
	Stale time.Duration
	// NegativeTTL is how long the safe mode remembers that an account does not exist (default 1 s).
	NegativeTTL time.Duration
	// Mutex is how long the safe mode's cross-gateway rebuild mutex lives (default 200 ms), and Wait how long
	// a reader without a stale value waits for another gateway's rebuild before asking the ledger itself
	// (default 50 ms).
	Mutex, Wait time.Duration
	// Prefix starts every key the cache writes (default "bal:").
	Prefix string
}

// Validate checks the mode and durations; the error names the field.
func (c CacheConfig) Validate() error {
	var errs []error
	if c.Mode != ModeSafe && c.Mode != ModeNaive {
		errs = append(errs, fmt.Errorf("cache mode %q must be %q or %q", c.Mode, ModeSafe, ModeNaive))
	}
	for name, d := range map[string]time.Duration{"cache_ttl": c.TTL, "cache_stale": c.Stale, "cache_negative_ttl": c.NegativeTTL, "cache mutex": c.Mutex, "cache wait": c.Wait} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v must not be negative", name, d))
		}
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		errs = append(errs, fmt.Errorf("cache_jitter %g must be in 0..0.5", c.Jitter))
	}
	return errors.Join(errs...)
}

// CacheStats counts what a RedisBalanceCache did, for metrics and reports.
type CacheStats struct {
	Hits, Misses, Stale, Rebuilds, NegativeHits uint64
}

// RedisBalanceCache is the balance cache of a gateway in Redis (CacheConfig.Mode: naive or safe).
type RedisBalanceCache struct {
	rdb    redis.Cmdable
	cfg    CacheConfig
	flight singleflight.Group
	now    func() time.Time

	hits, misses, stale, rebuilds, negative atomic.Uint64
}

// NewRedisBalanceCache returns a cache on rdb; cfg must be valid.
func NewRedisBalanceCache(rdb redis.Cmdable, cfg CacheConfig) (*RedisBalanceCache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("balance cache: %w", err)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 2 * time.Second
	}
	if cfg.Jitter == 0 && cfg.Mode == ModeSafe {
		cfg.Jitter = 0.2
	}
	if cfg.Stale == 0 {
		cfg.Stale = cfg.TTL
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = time.Second
	}
	if cfg.Mutex == 0 {
		cfg.Mutex = 200 * time.Millisecond
	}
	if cfg.Wait == 0 {
		cfg.Wait = 50 * time.Millisecond
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "bal:"
	}
	return &RedisBalanceCache{rdb: rdb, cfg: cfg, now: time.Now}, nil
}

// Stats returns the counts so far.
func (c *RedisBalanceCache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(), Rebuilds: c.rebuilds.Load(), NegativeHits: c.negative.Load()}
}

// entry is a cached read: the account (absent: it does not exist) and when it stops being fresh.
type entry struct {
	acc    ledger.AccountState
	absent bool
	fresh  time.Time
}

// encode: "balance version initial freshUnixMilli", or "- freshUnixMilli" for an absent account.
func (e entry) encode() string {
	if e.absent {
		return "- " + strconv.FormatInt(e.fresh.UnixMilli(), 10)
	}
	return fmt.Sprintf("%d %d %d %d", e.acc.Balance, e.acc.Version, e.acc.Initial, e.fresh.UnixMilli())
}

func decodeEntry(id, s string) (entry, bool) {
	f := strings.Fields(s)
	num := func(i int) (int64, bool) {
		v, err := strconv.ParseInt(f[i], 10, 64)
		return v, err == nil
	}
	switch {
	case len(f) == 2 && f[0] == "-":
		ms, ok := num(1)
		return entry{absent: true, fresh: time.UnixMilli(ms)}, ok
	case len(f) == 4:
		b, ok1 := num(0)
		v, ok2 := num(1)
		in, ok3 := num(2)
		ms, ok4 := num(3)
		return entry{acc: ledger.AccountState{ID: id, Balance: b, Version: uint64(v), Initial: in}, fresh: time.UnixMilli(ms)}, ok1 && ok2 && ok3 && ok4
	}
	return entry{}, false
}

// isAbsent reports whether a ledger read failed because the account does not exist.
func isAbsent(err error) bool {
	var api *client.APIError
	return errors.Is(err, ledger.ErrNotFound) || errors.As(err, &api) && api.Reason == ledger.ErrorNotFound
}

// Read returns account's state from the cache or, on a miss, from load, caching load's answer. hit says
// the ledger was spared. An error from Redis is not the caller's problem: the read falls through to load
// (the cache is advisory). A load error is returned as is (an absent account's, in safe mode, also cached).
func (c *RedisBalanceCache) Read(ctx context.Context, account string, load func(context.Context) (ledger.AccountState, error)) (acc ledger.AccountState, hit bool, err error) {
	key := c.cfg.Prefix + account
	raw, rerr := c.rdb.Get(ctx, key).Result()
	e, ok := decodeEntry(account, raw)
	if rerr != nil || !ok {
		c.misses.Add(1)
		if c.cfg.Mode == ModeNaive {
			return c.fill(ctx, key, load)
		}
		return c.rebuild(ctx, account, key, nil, load)
	}
	if c.now().Before(e.fresh) || c.cfg.Mode == ModeNaive {
		return c.answer(e, true)
	}
	// Safe mode, past its TTL but within Stale: one caller refreshes, the others serve the stale value.
	c.stale.Add(1)
	return c.rebuild(ctx, account, key, &e, load)
}

func (c *RedisBalanceCache) answer(e entry, hit bool) (ledger.AccountState, bool, error) {
	if e.absent {
		c.negative.Add(1)
		return ledger.AccountState{}, hit, fmt.Errorf("account (cached absent): %w", ledger.ErrNotFound)
	}
	c.hits.Add(1)
	return e.acc, hit, nil
}

// fill is the naive miss: ask the ledger, cache for exactly TTL.
func (c *RedisBalanceCache) fill(ctx context.Context, key string, load func(context.Context) (ledger.AccountState, error)) (ledger.AccountState, bool, error) {
	c.rebuilds.Add(1)
	acc, err := load(ctx)
	if err != nil {
		return acc, false, err
	}
	_ = c.rdb.Set(ctx, key, entry{acc: acc, fresh: c.now().Add(c.cfg.TTL)}.encode(), c.cfg.TTL).Err()
	return acc, false, nil
}

// rebuild is the safe miss or refresh: one load per key in this process (singleflight) and, across
// gateways, only the holder of a short Redis mutex loads; the others serve stale when they have it, or wait
// up to Wait for the holder's value before loading themselves.
func (c *RedisBalanceCache) rebuild(ctx context.Context, account, key string, stale *entry, load func(context.Context) (ledger.AccountState, error)) (ledger.AccountState, bool, error) {
	got, lost := c.rdb.SetNX(ctx, key+":rebuild", "1", c.cfg.Mutex).Result()
	if got {
		// Double-checked: the previous holder may have stored a fresh value between this caller's miss and
		// its taking the mutex.
		if raw, err := c.rdb.Get(ctx, key).Result(); err == nil {
			if e, ok := decodeEntry(account, raw); ok && c.now().Before(e.fresh) {
				_ = c.rdb.Del(ctx, key+":rebuild").Err()
				return c.answer(e, true)
			}
		}
	}
	if lost == nil && !got {
		if stale != nil {
			return c.answer(*stale, true)
		}
		if e, ok := c.awaitOther(ctx, account, key); ok {
			return c.answer(e, true)
		}
	}
	v, err, _ := c.flight.Do(account, func() (any, error) {
		c.rebuilds.Add(1)
		acc, err := load(ctx)
		switch {
		case err == nil:
			c.store(ctx, key, entry{acc: acc, fresh: c.now().Add(c.jittered(c.cfg.TTL))}, c.cfg.TTL)
		case isAbsent(err):
			c.store(ctx, key, entry{absent: true, fresh: c.now().Add(c.cfg.NegativeTTL)}, c.cfg.NegativeTTL)
		}
		return acc, err
	})
	if got {
		_ = c.rdb.Del(ctx, key+":rebuild").Err()
	}
	acc, _ := v.(ledger.AccountState)
	return acc, false, err
}

// awaitOther polls for the value another gateway is rebuilding, up to Wait.
func (c *RedisBalanceCache) awaitOther(ctx context.Context, account, key string) (entry, bool) {
	deadline := c.now().Add(c.cfg.Wait)
	for c.now().Before(deadline) {
		select {
		case <-ctx.Done():
			return entry{}, false
		case <-time.After(5 * time.Millisecond):
		}
		if raw, err := c.rdb.Get(ctx, key).Result(); err == nil {
			if e, ok := decodeEntry(account, raw); ok && c.now().Before(e.fresh) {
				return e, true
			}
		}
	}
	return entry{}, false
}

// store writes e with a Redis TTL of its freshness plus Stale (so a stale value is there to serve).
func (c *RedisBalanceCache) store(ctx context.Context, key string, e entry, fresh time.Duration) {
	_ = c.rdb.Set(ctx, key, e.encode(), max(e.fresh.Sub(c.now()), fresh/2)+c.cfg.Stale).Err()
}

// jittered spreads d by ±Jitter.
func (c *RedisBalanceCache) jittered(d time.Duration) time.Duration {
	if c.cfg.Jitter == 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + c.cfg.Jitter*(2*rand.Float64()-1)))
}

// Invalidate drops the given accounts (after a committed transfer changed them).
func (c *RedisBalanceCache) Invalidate(ctx context.Context, accounts ...string) error {
	if len(accounts) == 0 {
		return nil
	}
	keys := make([]string, len(accounts))
	for i, a := range accounts {
		keys[i] = c.cfg.Prefix + a
	}
	if err := c.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("invalidate %d cached balances: %w", len(keys), err)
	}
	return nil
}
