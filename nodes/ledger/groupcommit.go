package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// groupCommit collects concurrent transfers — single ones and small batches (a gateway's coalesced
// payments) — into one raft entry and answers each caller from that entry's results. It never waits for a
// timer: when a raft slot is free the collected transfers go at once, and while all GroupCommitInFlight
// slots are busy new transfers gather into the next entry, up to GroupCommitMax. Batches grow with load
// and cost nothing at low load. (DESIGN.md's ≤ 1 ms window is the upper bound this gives; measured in
// docs/PERFORMANCE.md.)
type groupCommit struct {
	n       *Node
	entries atomic.Uint64 // raft entries sent
	queued  atomic.Int64  // transfers submitted and not yet collected; bounded by GroupCommitQueue
	in      chan *pendingUnit
	ready   chan []*pendingUnit
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// pendingUnit is one caller's transfers (one, or a small batch), answered together.
type pendingUnit struct {
	ts   []Transfer
	res  []TransferResult
	err  error
	done chan struct{}
}

func newGroupCommit(n *Node) *groupCommit {
	g := &groupCommit{
		n:     n,
		in:    make(chan *pendingUnit, n.cfg.GroupCommitQueue),
		ready: make(chan []*pendingUnit),
		stop:  make(chan struct{}),
	}
	g.wg.Add(1 + n.cfg.GroupCommitInFlight)
	go func() {
		defer g.wg.Done()
		g.collect()
	}()
	for i := 0; i < n.cfg.GroupCommitInFlight; i++ {
		go func() {
			defer g.wg.Done()
			for batch := range g.ready {
				g.applyBatch(batch)
			}
		}()
	}
	return g
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
	if q := g.queued.Add(int64(len(ts))); q > int64(g.n.cfg.GroupCommitQueue) && q != int64(len(ts)) {
		// Shed load rather than queue without end: a full queue is several raft rounds of work already.
		// (A unit larger than the whole queue is still taken when nothing else waits.)
		g.queued.Add(-int64(len(ts)))
		g.n.met.shed.Add(float64(len(ts)))
		return nil, fmt.Errorf("queue transfer %s: %w: %d transfers already waiting", ts[0].ID, ErrOverloaded, q-int64(len(ts)))
	}
	select {
	case g.in <- p:
	case <-g.stop:
		g.queued.Add(-int64(len(ts)))
		return nil, ErrClosed
	default:
		g.queued.Add(-int64(len(ts)))
		g.n.met.shed.Add(float64(len(ts)))
		return nil, fmt.Errorf("queue transfer %s: %w: %d callers already waiting", ts[0].ID, ErrOverloaded, cap(g.in))
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

// take receives a unit from the queue and releases its transfers from the queue bound.
func (g *groupCommit) take(p *pendingUnit) *pendingUnit {
	g.queued.Add(-int64(len(p.ts)))
	return p
}

func (g *groupCommit) collect() {
	defer close(g.ready)
	max := g.n.cfg.GroupCommitMax
	var carry *pendingUnit // received but did not fit the batch before: starts the next one
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case p := <-g.in:
				first = g.take(p)
			case <-g.stop:
				g.drainClosed()
				return
			}
		}
		batch := []*pendingUnit{first}
		n := len(first.ts)
		add := func(p *pendingUnit) {
			if n+len(p.ts) > max {
				carry = p
				return
			}
			batch = append(batch, p)
			n += len(p.ts)
		}
	fill:
		for n < max && carry == nil {
			select {
			case p := <-g.in:
				add(g.take(p))
			default:
				break fill
			}
		}
		for sent := false; !sent; {
			if n >= max || carry != nil {
				select {
				case g.ready <- batch:
					sent = true
				case <-g.stop:
					finish(batch, ErrClosed)
					if carry != nil {
						finish([]*pendingUnit{carry}, ErrClosed)
					}
					g.drainClosed()
					return
				}
				continue
			}
			select {
			case g.ready <- batch:
				sent = true
			case p := <-g.in:
				add(g.take(p))
			case <-g.stop:
				finish(batch, ErrClosed)
				g.drainClosed()
				return
			}
		}
	}
}

// drainClosed answers everything still queued after stop: none of it reached raft.
func (g *groupCommit) drainClosed() {
	for {
		select {
		case p := <-g.in:
			finish([]*pendingUnit{g.take(p)}, ErrClosed)
		default:
			return
		}
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

// close stops collecting, answers queued transfers with ErrClosed and waits for in-flight entries.
func (g *groupCommit) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}
