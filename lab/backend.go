package lab

import (
	"context"
	"time"

	"paylab/results"
)

// maxBackendWindows bounds the windows a backend sampler keeps (as the health sampler's bound).
const maxBackendWindows = 1 << 16

// backendCounts sums the gateways' balance-read counts so far (each gateway's Counts outlives its
// restarts).
func (l *Lab) backendCounts() results.Backend {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b results.Backend
	for _, g := range l.gateways {
		if c := g.cfg.Counts; c != nil {
			b.LedgerReads += c.LedgerReads.Load()
			b.CacheHits += c.CacheHits.Load()
		}
	}
	return b
}

// sampleBackend records, for each one-second window from t0, what happened behind the gateways in it
// (results.Backend: the deltas of the gateways' counts across the window's edges) until ctx ends; the
// windows are returned by the channel when it does. Window i is [t0 + i s, t0 + (i+1) s), the request
// windows' base. Its goroutine is owned by the caller, who reads the channel.
func (l *Lab) sampleBackend(ctx context.Context, t0 time.Time) <-chan []results.Backend {
	out := make(chan []results.Backend, 1)
	go func() {
		var wins []results.Backend
		defer func() { out <- wins }()
		prev := l.backendCounts()
		for i := 1; len(wins) < maxBackendWindows; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(t0.Add(time.Duration(i) * time.Second))):
			}
			cur := l.backendCounts()
			wins = append(wins, results.Backend{LedgerReads: cur.LedgerReads - prev.LedgerReads, CacheHits: cur.CacheHits - prev.CacheHits})
			prev = cur
		}
	}()
	return out
}
