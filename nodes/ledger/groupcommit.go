package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// groupCommit collects concurrent transfers — single ones and small batches (a gateway's coalesced
// payments) — into one raft entry and answers each caller from that entry's results. It never waits for a
// timer: when a raft slot is free the collected transfers go at once, and while all GroupCommitInFlight
// slots are busy new transfers gather into the next entry, up to GroupCommitMax. Batches grow with load
// and cost nothing at low load. (DESIGN.md's ≤ 1 ms window is the upper bound this gives; measured in
// docs/PERFORMANCE.md.)
//
// There is no collector goroutine: a caller that finds a slot free sends the pending transfers itself (its
// own among them) and, when more gathered meanwhile, hands them to a new goroutine before returning. At
// 10,000 transfers/s the hand-offs of a collector (caller → collector → applier) were measurable CPU.
type groupCommit struct {
	n       *Node
	entries atomic.Uint64 // raft entries sent

	mu       sync.Mutex
	pending  []*pendingUnit // waiting for a slot, in arrival order
	queued   int            // transfers in pending; bounded by GroupCommitQueue
	inFlight int            // entries being applied; bounded by GroupCommitInFlight
	closed   bool
	running  sync.WaitGroup // entries being applied
}

// pendingUnit is one caller's transfers (one, or a small batch), answered together.
type pendingUnit struct {
	ts   []Transfer
	res  []TransferResult
	err  error
	done chan struct{}
}

func newGroupCommit(n *Node) *groupCommit {
	return &groupCommit{n: n}
}

// submit queues one validated transfer and waits for its result.
func (g *groupCommit) submit(ctx context.Context, t Transfer) (TransferResult, error) {
	res, err := g.submitMany(ctx, []Transfer{t})
	if err != nil {
		return TransferResult{}, err
	}
	return res[0], nil
}

// submitMany queues validated transfers as one unit (they share a raft entry) and waits for their results,
// one per transfer in order.
func (g *groupCommit) submitMany(ctx context.Context, ts []Transfer) ([]TransferResult, error) {
	p := &pendingUnit{ts: ts, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	if g.queued > 0 && g.queued+len(ts) > g.n.cfg.GroupCommitQueue {
		// Shed load rather than queue without end: a full queue is several raft rounds of work already.
		// (A unit larger than the whole queue is still taken when nothing else waits.)
		waiting := g.queued
		g.mu.Unlock()
		g.n.met.shed.Add(float64(len(ts)))
		return nil, fmt.Errorf("queue transfer %s: %w: %d transfers already waiting", ts[0].ID, ErrOverloaded, waiting)
	}
	g.pending = append(g.pending, p)
	g.queued += len(ts)
	var batch []*pendingUnit
	if g.inFlight < g.n.cfg.GroupCommitInFlight {
		batch = g.takeLocked()
	}
	g.mu.Unlock()
	if batch != nil {
		g.run(batch)
	}
	if g.n.cfg.Broken.AckBeforeCommit {
		// Test-only: answer before raft has the transfers. A leader crash now loses acknowledged money.
		res := make([]TransferResult, len(ts))
		for i, t := range ts {
			res[i] = TransferResult{ID: t.ID, Status: StatusCommitted}
		}
		return res, nil
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return nil, fmt.Errorf("transfer %s: %w: %w", ts[0].ID, errOutcomeUnknown, ctx.Err())
	}
}

// takeLocked removes the next entry's units from pending — as many whole units as fit in GroupCommitMax
// transfers, at least one — and claims a slot for it.
func (g *groupCommit) takeLocked() []*pendingUnit {
	max := g.n.cfg.GroupCommitMax
	k, n := 1, len(g.pending[0].ts)
	for k < len(g.pending) && n+len(g.pending[k].ts) <= max {
		n += len(g.pending[k].ts)
		k++
	}
	batch := make([]*pendingUnit, k)
	copy(batch, g.pending)
	clear(g.pending[:k])
	g.pending = g.pending[k:]
	if len(g.pending) == 0 {
		g.pending = g.pending[:0:0] // let the backing array go
	}
	g.queued -= n
	g.inFlight++
	g.running.Add(1)
	return batch
}

// run applies batch and answers its callers; when it ends, transfers that gathered meanwhile go in a new
// goroutine (the caller running this one has its own answer to give). With GroupCommitInterval the slot stays
// claimed until the interval since the entry's start is over — transfers arriving meanwhile gather into the
// next entry — and a goroutine of its own (counted in running) waits that out, so no caller waits for it.
func (g *groupCommit) run(batch []*pendingUnit) {
	start := time.Now()
	g.applyBatch(batch)
	if wait := g.n.cfg.GroupCommitInterval - time.Since(start); wait > 0 {
		go func() {
			time.Sleep(wait)
			g.release()
		}()
		return
	}
	g.release()
}

// release frees the slot of an entry that ended and sends what gathered meanwhile.
func (g *groupCommit) release() {
	g.mu.Lock()
	g.inFlight--
	g.running.Done()
	var next []*pendingUnit
	if len(g.pending) > 0 && !g.closed {
		next = g.takeLocked()
	}
	g.mu.Unlock()
	if next != nil {
		go g.run(next)
	}
}

func finish(batch []*pendingUnit, err error) {
	for _, p := range batch {
		p.err = err
		close(p.done)
	}
}

func (g *groupCommit) applyBatch(batch []*pendingUnit) {
	var ts []Transfer
	if len(batch) == 1 {
		ts = batch[0].ts
	} else {
		n := 0
		for _, p := range batch {
			n += len(p.ts)
		}
		ts = make([]Transfer, 0, n)
		for _, p := range batch {
			ts = append(ts, p.ts...)
		}
	}
	g.n.met.groupCommitSize.Observe(float64(len(ts)))
	g.entries.Add(1)
	resp, err := g.n.apply(context.Background(), encodeTransfers(ts))
	if err != nil {
		finish(batch, err)
		return
	}
	r, ok := resp.(*TransfersResponse)
	if !ok || len(r.Results) != len(ts) {
		finish(batch, fmt.Errorf("group commit: unexpected state machine response %T", resp))
		return
	}
	off := 0
	for _, p := range batch {
		p.res = r.Results[off : off+len(p.ts) : off+len(p.ts)]
		off += len(p.ts)
		close(p.done)
	}
}

// close stops taking transfers, answers the ones still waiting with ErrClosed (none reached raft) and waits
// for the entries being applied.
func (g *groupCommit) close() {
	g.mu.Lock()
	g.closed = true
	pending := g.pending
	g.pending, g.queued = nil, 0
	g.mu.Unlock()
	finish(pending, ErrClosed)
	g.running.Wait()
}
