package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// transferBatcher coalesces the transfers that reach one gateway at about the same time into one call to the
// ledger's batch API (client-side group commit). A transfer that finds no ledger call in flight goes alone at
// once, so a lightly loaded gateway adds no latency. Otherwise it joins the open batch, which leaves when the
// calls in flight have all returned, when it holds BatchMax transfers, or BatchWindow after its first
// transfer, whichever comes first. Every transfer keeps its own id, so the ledger's idempotency and the
// client's same-id retries work per transfer exactly as for single calls; each caller is answered from its own
// result in the batch's answer.
//
// Why: every gateway→ledger call crosses a toxiproxy link and the ledger's HTTP server, which in the lab
// cost more CPU than the ledger's work for the transfer itself (docs/PERFORMANCE.md).
type transferBatcher struct {
	g      *Gateway
	window time.Duration
	max    int

	mu       sync.Mutex
	open     *transferBatch // collecting; nil when none
	inFlight int            // ledger calls (single or batch) under way
	closed   bool
	sends    sync.WaitGroup // batch sends under way
}

// transferBatch is one batch being collected or sent.
type transferBatch struct {
	items []*batchItem
	timer *time.Timer // sends the batch BatchWindow after its first transfer
}

// batchItem is one caller's transfer and, once done is closed, its result.
type batchItem struct {
	t    ledger.Transfer
	res  client.TransferResult
	done chan struct{}
}

func newTransferBatcher(g *Gateway) *transferBatcher {
	return &transferBatcher{g: g, window: g.cfg.BatchWindow, max: g.cfg.BatchMax}
}

// transfer sends t to the ledger, alone or in a batch, and returns its result. A caller whose ctx ends first
// gets Unknown: its transfer may still be applied with the batch.
func (b *transferBatcher) transfer(ctx context.Context, t ledger.Transfer) client.TransferResult {
	b.mu.Lock()
	if b.window <= 0 || b.closed || b.open == nil && b.inFlight == 0 {
		b.inFlight++
		b.mu.Unlock()
		b.g.met.batchSize.Observe(1)
		res := b.g.ledger.Transfer(ctx, t)
		b.callDone()
		return res
	}
	it := &batchItem{t: t, done: make(chan struct{})}
	bt := b.open
	if bt == nil {
		bt = &transferBatch{items: make([]*batchItem, 0, 16)}
		b.open = bt
		bt.timer = time.AfterFunc(b.window, func() { b.flush(bt) })
	}
	bt.items = append(bt.items, it)
	full := len(bt.items) >= b.max
	if full {
		b.takeLocked(bt)
	}
	b.mu.Unlock()
	if full {
		go b.send(bt)
	}
	select {
	case <-it.done:
		return it.res
	case <-ctx.Done():
		return client.TransferResult{
			TransferResult: ledger.TransferResult{ID: t.ID},
			Outcome:        outcome.Unknown,
			Err:            fmt.Errorf("transfer %s: waiting for its batch: %w", t.ID, ctx.Err()),
		}
	}
}

// takeLocked closes the open batch bt for sending; the caller then sends it.
func (b *transferBatcher) takeLocked(bt *transferBatch) {
	b.open = nil
	bt.timer.Stop()
	b.inFlight++
	b.sends.Add(1)
}

// close stops batching and waits for the batch sends under way. The gateway calls it once every payment
// handler has returned: transfers left in an open batch belong to callers that are gone (their contexts
// ended, they answered outcome unknown), so the batch is dropped unsent.
func (b *transferBatcher) close() {
	b.mu.Lock()
	b.closed = true
	if b.open != nil {
		b.open.timer.Stop()
		b.open = nil
	}
	b.mu.Unlock()
	b.sends.Wait()
}

// flush sends bt if it is still the open batch (its window ended).
func (b *transferBatcher) flush(bt *transferBatch) {
	b.mu.Lock()
	if b.open != bt || b.closed {
		b.mu.Unlock()
		return
	}
	b.takeLocked(bt)
	b.mu.Unlock()
	b.send(bt)
}

// callDone ends one ledger call; when it was the last in flight, the open batch leaves at once.
func (b *transferBatcher) callDone() {
	b.mu.Lock()
	b.inFlight--
	bt := b.open
	if b.inFlight > 0 || bt == nil || b.closed {
		b.mu.Unlock()
		return
	}
	b.takeLocked(bt)
	b.mu.Unlock()
	go b.send(bt)
}

// send makes the ledger call for bt and answers every caller in it.
func (b *transferBatcher) send(bt *transferBatch) {
	defer b.sends.Done()
	defer b.callDone()
	ctx, cancel := context.WithTimeout(b.g.ctx, b.g.cfg.Ledger.Deadline)
	defer cancel()
	b.g.met.batchSize.Observe(float64(len(bt.items)))
	if len(bt.items) == 1 {
		it := bt.items[0]
		it.res = b.g.ledger.Transfer(ctx, it.t)
		close(it.done)
		return
	}
	ts := make([]ledger.Transfer, len(bt.items))
	for i, it := range bt.items {
		ts[i] = it.t
	}
	br := b.g.ledger.TransferBatch(ctx, ts)
	for i, it := range bt.items {
		res := client.TransferResult{Outcome: br.Outcome, Err: br.Err, Attempts: br.Attempts, Node: br.Node}
		res.ID = it.t.ID
		if br.Outcome == outcome.OK && len(br.Results) == len(ts) {
			res.TransferResult = br.Results[i]
			switch {
			case res.Status == ledger.StatusCommitted:
			case res.Reason == ledger.ReasonIDConflict:
				res.Outcome, res.Conflict = outcome.Rejected, true
			default:
				res.Outcome = outcome.Rejected
			}
		} else if br.Outcome == outcome.OK {
			res.Outcome, res.Err = outcome.Unknown, fmt.Errorf("batch answer has %d results for %d transfers", len(br.Results), len(ts))
		}
		it.res = res
		close(it.done)
	}
}
