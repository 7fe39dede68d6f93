package gateway

import (
	"context"
	"time"

	"paylab/nodes/ledger"
)

// The interfaces below are where the gateway's Redis-backed mechanisms plug in (redis_*.go), each off, safe or
// naive (see Mode); off is the pass-through default below: the ledger already makes every transfer atomic and
// idempotent by id, so without Redis the gateway needs neither a cache nor a lock to be correct. The gateway
// treats caches as advisory — an error from one is logged and the ledger is asked — but a lock or limiter
// error refuses the request.

// IdempotencyCache remembers decided transfers by id, so a resubmission can be answered without the ledger.
// The gateway answers from a hit only when the cached transfer equals the new one (same id, other body → 409,
// as the ledger would), and stores only decided results (committed or rejected), never unknown ones.
type IdempotencyCache interface {
	// Get returns the transfer and result stored under id, if any.
	Get(ctx context.Context, id string) (t ledger.Transfer, res ledger.TransferResult, ok bool, err error)
	// Put stores a decided transfer and its result.
	Put(ctx context.Context, t ledger.Transfer, res ledger.TransferResult) error
}

// IdempotencyClaims decides, in the naive idempotency mode, whether a payment is new: Claim takes the
// client's key and reports whether no one held it (RedisIdempotency: SET NX with a TTL).
type IdempotencyClaims interface {
	Claim(ctx context.Context, key string) (bool, error)
}

// BalanceCache is the cache-aside store of account reads. The gateway consults it only for reads that asked
// for ?stale=true (a linearizable read always goes to the ledger leader) and invalidates both accounts of
// every committed transfer. Expiry, and what protects the ledger when many readers miss at once, belong to
// the implementation (RedisBalanceCache: naive or safe).
type BalanceCache interface {
	// Read returns the account's state from the cache or, on a miss, from load, whose answer it may cache;
	// hit says the ledger was spared. A cache failure falls through to load; load's error is returned.
	Read(ctx context.Context, account string, load func(context.Context) (ledger.AccountState, error)) (acc ledger.AccountState, hit bool, err error)
	// Invalidate drops the given accounts.
	Invalidate(ctx context.Context, accounts ...string) error
}

// AccountLocker serialises work on one account across gateways. The gateway holds the debited account's lock
// around a ledger transfer, and both accounts' around the naive read-check-write (lockAccounts).
// RedisLocker implements it: safe (fencing token, compare-and-delete) or naive (SETNX, fixed TTL, DEL).
type AccountLocker interface {
	// Lock blocks until the account's lock is held or ctx ends.
	Lock(ctx context.Context, account string) (Lease, error)
}

// Lease is a held account lock.
type Lease interface {
	// Fence is the lock's fencing token (0 when the lock does not fence).
	Fence() uint64
	// Release gives the lock back; it is called exactly once.
	Release(ctx context.Context)
}

// RateLimiter decides whether a request may proceed (the article's token bucket, later a Redis Lua script).
// The gateway asks it with the debited account for transfers and the read account for reads; a refusal is
// 429 with Retry-After.
type RateLimiter interface {
	// Allow reports whether the request keyed by key may run now, and if not, when to retry.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// The pass-through defaults: "safe" mode with no Redis.
type (
	noIdempotencyCache struct{}
	noBalanceCache     struct{}
	noLocks            struct{}
	noLease            struct{}
	noLimit            struct{}
)

func (noIdempotencyCache) Get(context.Context, string) (ledger.Transfer, ledger.TransferResult, bool, error) {
	return ledger.Transfer{}, ledger.TransferResult{}, false, nil
}
func (noIdempotencyCache) Put(context.Context, ledger.Transfer, ledger.TransferResult) error {
	return nil
}
func (noBalanceCache) Read(ctx context.Context, _ string, load func(context.Context) (ledger.AccountState, error)) (ledger.AccountState, bool, error) {
	acc, err := load(ctx)
	return acc, false, err
}
func (noBalanceCache) Invalidate(context.Context, ...string) error         { return nil }
func (noLocks) Lock(context.Context, string) (Lease, error)                { return noLease{}, nil }
func (noLease) Fence() uint64                                              { return 0 }
func (noLease) Release(context.Context)                                    {}
func (noLimit) Allow(context.Context, string) (bool, time.Duration, error) { return true, 0, nil }

var (
	_ IdempotencyCache  = noIdempotencyCache{}
	_ BalanceCache      = noBalanceCache{}
	_ AccountLocker     = noLocks{}
	_ RateLimiter       = noLimit{}
	_ BalanceCache      = (*RedisBalanceCache)(nil)
	_ IdempotencyClaims = (*RedisIdempotency)(nil)
	_ NonceStore        = (*MemoryNonceStore)(nil)
)
