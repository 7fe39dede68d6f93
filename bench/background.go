package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"paylab/lab/load"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/cluster"
	"paylab/outcome"
)

// background is the failover benchmark's load: transfers at a constant rate for as long as the kills go
// on, each noting when it committed. The failover time of a kill runs from the kill to the completion of
// the first transfer that was sent after the kill and committed: a transfer the old leader committed just
// before dying must not count.
type background struct {
	t0                  time.Time
	killAt, firstCommit atomic.Int64 // nanoseconds since t0; firstCommit 0 = none yet
	gaps                gapTracker
	attempts, calls     atomic.Uint64 // HTTP attempts the client made, and transfers: retries are load too
	cancel              context.CancelFunc
	done                chan loadResult
	over                bool
	rep                 *load.Report
}

type loadResult struct {
	rep *load.Report
	err error
}

// startBackground starts the load; stop ends it.
func startBackground(ctx context.Context, cl *client.Client, cfg FailoverConfig) *background {
	b := &background{t0: time.Now(), done: make(chan loadResult, 1)}
	loadCtx, cancel := context.WithCancel(ctx)
	b.cancel = cancel
	lcfg := load.DefaultConfig()
	lcfg.Pacer = load.ConstantPacer{Rate: cfg.Rate}
	lcfg.Duration = 6 * time.Hour // stopped after the last kill (the recorder keeps at most 18 h of windows)
	// Bounded: while no leader is known every transfer in flight retries, and an unbounded open-model load
	// turns a slow election into thousands of retrying requests that starve the very process raft runs in
	// (measured: 186,000 timed-out transfers, 2.7 s of scheduler lag and 6 minutes without a leader).
	lcfg.Timeout = cfg.Timeout
	lcfg.MaxWorkers = cfg.MaxInFlight
	op := b.op(cl)
	go func() {
		rep, err := load.Run(loadCtx, lcfg, op)
		b.done <- loadResult{rep, err}
	}()
	return b
}

func (b *background) op(cl *client.Client) load.OpFunc {
	return func(ctx context.Context, seq uint64, worker int) load.Outcome {
		sent := int64(time.Since(b.t0))
		r := cl.Transfer(ctx, ledger.Transfer{From: cluster.AccountID(int(seq % failoverAccounts)), To: cluster.AccountID(int((seq + 1) % failoverAccounts)), Amount: 1})
		b.attempts.Add(uint64(r.Attempts))
		b.calls.Add(1)
		if r.Outcome == outcome.OK {
			done := time.Since(b.t0)
			b.gaps.observe(done)
			if sent > b.killAt.Load() {
				b.firstCommit.CompareAndSwap(0, int64(done))
			}
		}
		return callOutcome(r.Outcome, r.Reason, r.Err, 1)
	}
}

// since is the time since the load started.
func (b *background) since() time.Duration { return time.Since(b.t0) }

// markKill starts the measurement of a kill about to happen and returns its time (since t0).
func (b *background) markKill() time.Duration {
	b.firstCommit.Store(0)
	ka := b.since()
	b.killAt.Store(int64(ka))
	return ka
}

// attemptsPerCall is the mean HTTP attempts per transfer so far.
func (b *background) attemptsPerCall() float64 {
	if n := b.calls.Load(); n > 0 {
		return float64(b.attempts.Load()) / float64(n)
	}
	return 0
}

// stop ends the load (once) and returns its report.
func (b *background) stop() (*load.Report, error) {
	if b.over {
		return b.rep, nil
	}
	b.over = true
	b.cancel()
	r := <-b.done
	b.rep = r.rep
	if r.err != nil && !errors.Is(r.err, context.Canceled) {
		return b.rep, fmt.Errorf("background load: %w", r.err)
	}
	return b.rep, nil
}
