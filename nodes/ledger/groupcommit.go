package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// groupCommit collects concurrent single transfers into one raft entry and answers each caller from that
// entry's results. It never waits for a timer: when a raft slot is free the collected transfers go at once,
// and while all GroupCommitInFlight slots are busy new transfers gather into the next entry, up to
// GroupCommitMax. Batches grow with load and cost nothing at low load. (DESIGN.md's ≤ 1 ms window is the
// upper bound this gives; measured in docs/PERFORMANCE.md.)
type groupCommit struct {
	n       *Node
	entries atomic.Uint64 // raft entries sent
	in      chan *pendingTransfer
	ready   chan []*pendingTransfer
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

type pendingTransfer struct {
	t    Transfer
	res  TransferResult
	err  error
	done chan struct{}
}

func newGroupCommit(n *Node) *groupCommit {
	g := &groupCommit{
		n:     n,
		in:    make(chan *pendingTransfer, n.cfg.GroupCommitQueue),
		ready: make(chan []*pendingTransfer),
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
	p := &pendingTransfer{t: t, done: make(chan struct{})}
	select {
	case g.in <- p:
	case <-g.stop:
		return TransferResult{}, ErrClosed
	default:
		// Shed load rather than queue without end: a full queue is several raft rounds of work already.
		g.n.met.shed.Inc()
		return TransferResult{}, fmt.Errorf("queue transfer %s: %w: %d transfers already waiting", t.ID, ErrOverloaded, cap(g.in))
	}
	if g.n.cfg.Broken.AckBeforeCommit {
		// Test-only: answer before raft has the transfer. A leader crash now loses acknowledged money.
		return TransferResult{ID: t.ID, Status: StatusCommitted}, nil
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return TransferResult{}, fmt.Errorf("transfer %s: %w: %w", t.ID, errOutcomeUnknown, ctx.Err())
	}
}

func (g *groupCommit) collect() {
	defer close(g.ready)
	max := g.n.cfg.GroupCommitMax
	for {
		var first *pendingTransfer
		select {
		case first = <-g.in:
		case <-g.stop:
			g.drainClosed()
			return
		}
		batch := make([]*pendingTransfer, 1, max)
		batch[0] = first
	fill:
		for len(batch) < max {
			select {
			case p := <-g.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		for sent := false; !sent; {
			if len(batch) >= max {
				select {
				case g.ready <- batch:
					sent = true
				case <-g.stop:
					finish(batch, ErrClosed)
					g.drainClosed()
					return
				}
				continue
			}
			select {
			case g.ready <- batch:
				sent = true
			case p := <-g.in:
				batch = append(batch, p)
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
			finish([]*pendingTransfer{p}, ErrClosed)
		default:
			return
		}
	}
}

func finish(batch []*pendingTransfer, err error) {
	for _, p := range batch {
		p.err = err
		close(p.done)
	}
}

func (g *groupCommit) applyBatch(batch []*pendingTransfer) {
	ts := make([]Transfer, len(batch))
	for i, p := range batch {
		ts[i] = p.t
	}
	g.n.met.groupCommitSize.Observe(float64(len(batch)))
	g.entries.Add(1)
	resp, err := g.n.apply(context.Background(), encodeTransfers(ts))
	if err != nil {
		finish(batch, err)
		return
	}
	r, ok := resp.(*TransfersResponse)
	if !ok || len(r.Results) != len(batch) {
		finish(batch, fmt.Errorf("group commit: unexpected state machine response %T", resp))
		return
	}
	for i, p := range batch {
		p.res = r.Results[i]
		close(p.done)
	}
}

// close stops collecting, answers queued transfers with ErrClosed and waits for in-flight entries.
func (g *groupCommit) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}
