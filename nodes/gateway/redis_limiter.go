package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// FailPolicy is what a Redis-backed mechanism does when Redis does not answer.
type FailPolicy string

// Fail policies.
const (
	// FailOpen lets the request through (availability first: a limiter outage must not stop payments).
	FailOpen FailPolicy = "open"
	// FailClosed refuses the request (protection first).
	FailClosed FailPolicy = "closed"
)

// Validate accepts "open" and "closed".
func (p FailPolicy) Validate() error {
	if p != FailOpen && p != FailClosed {
		return fmt.Errorf("fail policy %q must be %q or %q", p, FailOpen, FailClosed)
	}
	return nil
}

// LimiterConfig sets a RedisLimiter's token buckets: one per key (the debited or read account) and one for
// every request of every gateway sharing the Redis. A bucket holds at most Burst tokens and gains Rate
// tokens per second; a request takes one token from each bucket or is refused.
type LimiterConfig struct {
	// Rate and Burst of each key's bucket; Rate 0 disables it.
	Rate  float64
	Burst int
	// GlobalRate and GlobalBurst of the shared bucket; GlobalRate 0 disables it.
	GlobalRate  float64
	GlobalBurst int
	// OnError is the policy when Redis fails (default FailOpen).
	OnError FailPolicy
	// Prefix starts every key the limiter writes (default "rl:").
	Prefix string
	// Timeout bounds one decision's round trip to Redis (default 50 ms); past it the decision is OnError's.
	Timeout time.Duration
}

// Validate checks the buckets and the policy; the error names the field.
func (c LimiterConfig) Validate() error {
	var errs []error
	if c.Rate < 0 || c.GlobalRate < 0 {
		errs = append(errs, fmt.Errorf("limiter rates must not be negative (rate %g, global_rate %g)", c.Rate, c.GlobalRate))
	}
	if c.Rate > 0 && c.Burst < 1 || c.GlobalRate > 0 && c.GlobalBurst < 1 {
		errs = append(errs, fmt.Errorf("a limiter bucket with a rate needs a burst ≥ 1 (burst %d, global_burst %d)", c.Burst, c.GlobalBurst))
	}
	if c.OnError != "" {
		if err := c.OnError.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("limiter timeout %v must not be negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// tokenBucketScript takes one token from each of up to two buckets atomically, or none. KEYS: the key's
// bucket, the global bucket. ARGV: now (ms), rate, burst, global rate, global burst (rate 0: bucket off).
// A bucket is a hash {t: tokens, ts: last refill ms}; it expires when it would be full again, so idle keys
// cost nothing. Returns {allowed (0/1), ms until a token is available in the emptiest refusing bucket}.
// The caller's clock is passed in rather than Redis's TIME so one script runs on redis-server and miniredis
// alike; gateways' clocks on one machine agree to well under a token's interval.
var tokenBucketScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local function state(key, rate, burst)
  if rate <= 0 then return nil end
  local v = redis.call('HMGET', key, 't', 'ts')
  local t, ts = tonumber(v[1]), tonumber(v[2])
  if t == nil then t, ts = burst, now end
  t = math.min(burst, t + (now - ts) * rate / 1000)
  return t
end
local r1, b1 = tonumber(ARGV[2]), tonumber(ARGV[3])
local r2, b2 = tonumber(ARGV[4]), tonumber(ARGV[5])
local t1 = state(KEYS[1], r1, b1)
local t2 = state(KEYS[2], r2, b2)
local wait = 0
if t1 ~= nil and t1 < 1 then wait = math.max(wait, math.ceil((1 - t1) * 1000 / r1)) end
if t2 ~= nil and t2 < 1 then wait = math.max(wait, math.ceil((1 - t2) * 1000 / r2)) end
if wait > 0 then return {0, wait} end
local function take(key, t, rate, burst)
  if t == nil then return end
  t = t - 1
  redis.call('HSET', key, 't', tostring(t), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - t) * 1000 / rate) + 1000)
end
take(KEYS[1], t1, r1, b1)
take(KEYS[2], t2, r2, b2)
return {1, 0}
`)

// RedisLimiter is the RateLimiter of a gateway backed by Redis: token buckets in one atomic Lua script
// (redis.NewScript, EVALSHA with EVAL fallback), shared by every gateway that uses the same Redis.
type RedisLimiter struct {
	rdb redis.Scripter
	cfg LimiterConfig
	now func() time.Time

	allowed, refused, failedOpen, failedClosed atomic.Uint64
}

// LimiterStats counts a RedisLimiter's decisions: allowed, refused by a bucket, and Redis failures answered
// by the fail-open or the fail-closed policy.
type LimiterStats struct {
	Allowed, Refused, FailedOpen, FailedClosed uint64
}

// Stats returns the counts so far.
func (l *RedisLimiter) Stats() LimiterStats {
	return LimiterStats{Allowed: l.allowed.Load(), Refused: l.refused.Load(), FailedOpen: l.failedOpen.Load(), FailedClosed: l.failedClosed.Load()}
}

// NewRedisLimiter returns a limiter on rdb (a *redis.Client); cfg must be valid.
func NewRedisLimiter(rdb redis.Scripter, cfg LimiterConfig) (*RedisLimiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	if cfg.OnError == "" {
		cfg.OnError = FailOpen
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "rl:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 50 * time.Millisecond
	}
	return &RedisLimiter{rdb: rdb, cfg: cfg, now: time.Now}, nil
}

// ErrLimiterUnavailable wraps a Redis failure the limiter answered by its fail-closed policy.
var ErrLimiterUnavailable = errors.New("rate limiter unavailable")

// Allow takes a token for key from its bucket and the global one. On a Redis failure it answers by the
// policy: open → allowed; closed → refused with a one-second Retry-After and an error wrapping
// ErrLimiterUnavailable (the gateway answers 503 rate_limiter_unavailable; an ordinary refusal is 429 with
// Retry-After).
func (l *RedisLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l.cfg.Rate == 0 && l.cfg.GlobalRate == 0 {
		return true, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	keys := []string{l.cfg.Prefix + "k:" + key, l.cfg.Prefix + "global"}
	res, err := tokenBucketScript.Run(ctx, l.rdb, keys, l.now().UnixMilli(), l.cfg.Rate, l.cfg.Burst, l.cfg.GlobalRate, l.cfg.GlobalBurst).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("token bucket script returned %d values, want 2", len(res))
	}
	if err != nil {
		if l.cfg.OnError == FailOpen {
			l.failedOpen.Add(1)
			return true, 0, nil
		}
		l.failedClosed.Add(1)
		return false, time.Second, fmt.Errorf("rate limit %s: %w: %w", key, ErrLimiterUnavailable, err)
	}
	if res[0] == 1 {
		l.allowed.Add(1)
		return true, 0, nil
	}
	l.refused.Add(1)
	return false, time.Duration(res[1]) * time.Millisecond, nil
}

var _ RateLimiter = (*RedisLimiter)(nil)
