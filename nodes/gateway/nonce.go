package gateway

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NonceStore remembers the nonces of accepted signed requests until they expire. The gateway asks it once
// per authentic request, after the signature checks out and before anything is charged. Implementations
// must be safe for concurrent use; the in-memory one serves one gateway, the Redis one (a later issue:
// SET nonce 1 NX PXAT expires) lets every gateway of a region share a store.
type NonceStore interface {
	// Remember records nonce until expires and reports whether it was new: false means it had been recorded
	// before and has not expired at now — a replay. An error means the store could not decide; the gateway
	// then refuses the request (fail closed) rather than risk charging a replay.
	Remember(ctx context.Context, nonce string, now, expires time.Time) (fresh bool, err error)
}

// ErrNonceStoreFull is returned by MemoryNonceStore when every slot holds an unexpired nonce.
var ErrNonceStoreFull = errors.New("nonce store full")

// MemoryNonceStore is a bounded, time-expiring NonceStore in process memory. Expired nonces are dropped as new
// ones arrive; when all max slots hold live nonces, Remember fails with ErrNonceStoreFull instead of
// forgetting one, because a forgotten nonce is a replay window.
type MemoryNonceStore struct {
	mu     sync.Mutex
	max    int
	live   map[string]time.Time
	expiry nonceHeap
}

// NewMemoryNonceStore returns a store holding at most max live nonces.
func NewMemoryNonceStore(max int) (*MemoryNonceStore, error) {
	if max < 1 {
		return nil, fmt.Errorf("nonce store size %d must be at least 1", max)
	}
	return &MemoryNonceStore{max: max, live: make(map[string]time.Time)}, nil
}

// Remember implements NonceStore.
func (s *MemoryNonceStore) Remember(_ context.Context, nonce string, now, expires time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.expiry) > 0 && !s.expiry[0].at.After(now) {
		e := heap.Pop(&s.expiry).(nonceExpiry)
		delete(s.live, e.nonce)
	}
	if _, seen := s.live[nonce]; seen {
		return false, nil
	}
	if !expires.After(now) {
		return true, nil // already stale: nothing to remember (the gateway refuses stale requests before this)
	}
	if len(s.live) >= s.max {
		return false, fmt.Errorf("remember nonce: %w (%d live nonces; raise MaxNonces or lower MaxSkew)", ErrNonceStoreFull, len(s.live))
	}
	s.live[nonce] = expires
	heap.Push(&s.expiry, nonceExpiry{at: expires, nonce: nonce})
	return true, nil
}

// Len is the number of nonces held, expired ones not yet dropped included.
func (s *MemoryNonceStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

type nonceExpiry struct {
	at    time.Time
	nonce string
}

// nonceHeap orders nonces by expiry, earliest first (container/heap).
type nonceHeap []nonceExpiry

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(nonceExpiry)) }
func (h *nonceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
