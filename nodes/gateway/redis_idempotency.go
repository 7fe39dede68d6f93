package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/nodes/ledger"
)

// RedisIdempotency keeps a gateway's idempotency keys in Redis, as payment teams often do: SET key NX with
// a TTL claims a payment, the decided result replaces the claim, and a resubmission while the key lives is
// answered from it. In naive mode (Config.Idempotency) it is the only guard: the gateway sends a claimed
// payment to the ledger under a fresh transfer id, so once the key is gone — expired, flushed, or Redis
// down with the gateway failing open — a retry is charged again (the ledger sees a new transfer carrying the
// same payment key, which no_double_deduct names). In safe mode the ledger's own idempotency by payment key
// decides and the cache only spares it repeat work.
type RedisIdempotency struct {
	rdb    redis.Cmdable
	ttl    time.Duration
	prefix string
}

// NewRedisIdempotency returns the store on rdb; ttl is how long a key lives (> 0).
func NewRedisIdempotency(rdb redis.Cmdable, ttl time.Duration) (*RedisIdempotency, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("idempotency_ttl %v must be positive", ttl)
	}
	return &RedisIdempotency{rdb: rdb, ttl: ttl, prefix: "idem:"}, nil
}

// storedResult is what a decided key holds.
type storedResult struct {
	T ledger.Transfer       `json:"t"`
	R ledger.TransferResult `json:"r"`
}

// SetPrefix sets what starts every key the store writes (default "idem:"), e.g. a region's name.
func (s *RedisIdempotency) SetPrefix(p string) { s.prefix = p }

// Claim takes key for a new payment: true when no one holds it (it did not exist, or expired), false when
// a claim or a result is there. A Redis error is returned as is (the caller's fail policy decides).
func (s *RedisIdempotency) Claim(ctx context.Context, key string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.prefix+key, "", s.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim idempotency key %s: %w", key, err)
	}
	return ok, nil
}

// Get returns the decided transfer stored under id; ok is false when the key is absent or only claimed.
func (s *RedisIdempotency) Get(ctx context.Context, id string) (ledger.Transfer, ledger.TransferResult, bool, error) {
	raw, err := s.rdb.Get(ctx, s.prefix+id).Result()
	if errors.Is(err, redis.Nil) || err == nil && raw == "" {
		return ledger.Transfer{}, ledger.TransferResult{}, false, nil
	}
	if err != nil {
		return ledger.Transfer{}, ledger.TransferResult{}, false, fmt.Errorf("idempotency key %s: %w", id, err)
	}
	var v storedResult
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return ledger.Transfer{}, ledger.TransferResult{}, false, fmt.Errorf("idempotency key %s holds %q: %w", id, raw, err)
	}
	return v.T, v.R, true, nil
}

// Put stores a decided transfer under its id (the client's key) for the rest of the key's TTL, or a full TTL
// when the claim already expired.
func (s *RedisIdempotency) Put(ctx context.Context, t ledger.Transfer, res ledger.TransferResult) error {
	raw, err := json.Marshal(storedResult{T: t, R: res})
	if err != nil {
		return fmt.Errorf("encode idempotency result %s: %w", t.ID, err)
	}
	set, err := s.rdb.SetArgs(ctx, s.prefix+t.ID, raw, redis.SetArgs{Mode: "XX", KeepTTL: true}).Result()
	if errors.Is(err, redis.Nil) || err == nil && set != "OK" {
		err = s.rdb.Set(ctx, s.prefix+t.ID, raw, s.ttl).Err()
	}
	if err != nil {
		return fmt.Errorf("store idempotency result %s: %w", t.ID, err)
	}
	return nil
}

var _ IdempotencyCache = (*RedisIdempotency)(nil)
