package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LockConfig sets a RedisLocker.
type LockConfig struct {
	// Mode: ModeNaive is the lock payment teams write first — SET key 1 NX with a fixed TTL, released by an
	// unconditional DEL, which frees whoever holds the lock by then if this holder outlived its TTL (a GC
	// pause, a slow ledger call): two holders, a lost update. ModeSafe takes a fencing token from INCR
	// (Kleppmann, "How to do distributed locking", 2016), stores it as the lock's value, releases only its
	// own lock (compare-and-delete in Lua), and offers the token as Lease.Fence: a blind balance write that
	// carries it is refused by the ledger when a newer token was seen (ledger.BalanceWrite.Fence). The
	// gateway's safe lock mode holds it around the ledger's own conditional transfer, which needs no fence.
	Mode Mode
	// TTL is how long a lock lives if its holder never releases it (default 3 s).
	TTL time.Duration
	// Retry is the wait between attempts to take a held lock (default 5 ms); Lock gives up when its context ends.
	Retry time.Duration
	// Prefix starts every key the locker writes (default "lock:"; tokens under Prefix+"fence:").
	Prefix string
}

// Validate checks the mode and durations; the error names the field.
func (c LockConfig) Validate() error {
	var errs []error
	if c.Mode != ModeSafe && c.Mode != ModeNaive {
		errs = append(errs, fmt.Errorf("lock mode %q must be %q or %q", c.Mode, ModeSafe, ModeNaive))
	}
	if c.TTL < 0 || c.TTL > 0 && c.TTL < time.Millisecond {
		errs = append(errs, fmt.Errorf("lock_ttl %v must be at least 1ms", c.TTL))
	}
	if c.Retry < 0 {
		errs = append(errs, fmt.Errorf("lock retry %v must not be negative", c.Retry))
	}
	return errors.Join(errs...)
}

// RedisLocker is the AccountLocker of a gateway backed by Redis, in naive or safe mode (LockConfig.Mode).
type RedisLocker struct {
	rdb redis.Cmdable
	cfg LockConfig

	acquired, waits, timeouts, lost atomic.Uint64
}

// LockStats counts what a RedisLocker did: locks taken, attempts that found the lock held (waits), Lock
// calls that gave up when their context ended (timeouts), and safe releases that found the lock no longer
// theirs — it expired while held (lost; the naive release cannot tell, it deletes whatever is there).
type LockStats struct {
	Acquired, Waits, Timeouts, Lost uint64
}

// Stats returns the counts so far.
func (l *RedisLocker) Stats() LockStats {
	return LockStats{Acquired: l.acquired.Load(), Waits: l.waits.Load(), Timeouts: l.timeouts.Load(), Lost: l.lost.Load()}
}

// NewRedisLocker returns a locker on rdb; cfg must be valid.
func NewRedisLocker(rdb redis.Cmdable, cfg LockConfig) (*RedisLocker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("account lock: %w", err)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 3 * time.Second
	}
	if cfg.Retry == 0 {
		cfg.Retry = 5 * time.Millisecond
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "lock:"
	}
	return &RedisLocker{rdb: rdb, cfg: cfg}, nil
}

// releaseScript deletes the lock only when it still holds this holder's token.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Lock takes account's lock, retrying every Retry while another holder has it, until ctx ends (then the
// error wraps ctx's). A Redis failure is returned at once, wrapped.
func (l *RedisLocker) Lock(ctx context.Context, account string) (Lease, error) {
	key := l.cfg.Prefix + account
	var token uint64
	value := "1"
	if l.cfg.Mode == ModeSafe {
		t, err := l.rdb.Incr(ctx, l.cfg.Prefix+"fence:"+account).Uint64()
		if err != nil {
			return nil, fmt.Errorf("lock %s: fencing token: %w", account, err)
		}
		token, value = t, strconv.FormatUint(t, 10)
	}
	for {
		ok, err := l.rdb.SetNX(ctx, key, value, l.cfg.TTL).Result()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", account, err)
		}
		if ok {
			l.acquired.Add(1)
			return &redisLease{l: l, key: key, value: value, token: token}, nil
		}
		l.waits.Add(1)
		select {
		case <-ctx.Done():
			l.timeouts.Add(1)
			return nil, fmt.Errorf("lock %s: held by another: %w", account, ctx.Err())
		case <-time.After(l.cfg.Retry):
		}
	}
}

// redisLease is a held lock.
type redisLease struct {
	l     *RedisLocker
	key   string
	value string
	token uint64
}

// Fence is the lock's fencing token (0 in naive mode: nothing fences its write).
func (r *redisLease) Fence() uint64 { return r.token }

// Release frees the lock: naive mode deletes the key whoever holds it now; safe mode only its own.
func (r *redisLease) Release(ctx context.Context) {
	if r.l.cfg.Mode == ModeNaive {
		_ = r.l.rdb.Del(ctx, r.key).Err()
		return
	}
	if n, err := releaseScript.Run(ctx, r.l.rdb, []string{r.key}, r.value).Int64(); err == nil && n == 0 {
		r.l.lost.Add(1)
	}
}

var _ AccountLocker = (*RedisLocker)(nil)
