package gateway

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"paylab/nodes/ledger"
)

// TestConcurrentTransfersShareOneLedgerCallAndKeepTheirOwnAnswers holds the batcher as if a ledger call
// were under way, sends transfers that gather into one batch — two fresh ones, an exact resubmission of one of
// them, a reuse of its id with another body, one overdraft — then lets the call end. The batch must go as
// one ledger call, and every caller must get what a lone call would have answered.
func TestConcurrentTransfersShareOneLedgerCallAndKeepTheirOwnAnswers(t *testing.T) {
	t.Parallel()
	l := startLab(t, nil)
	l.createAccount("s", 100)
	l.createAccount("d", 0)
	if code, raw := l.call("POST", "/v1/transfers", ledger.Transfer{ID: "before", From: "s", To: "d", Amount: 1}); code != http.StatusOK {
		t.Fatalf("first transfer: %d %s", code, raw)
	}
	b := l.gw.batcher
	b.mu.Lock()
	b.window = time.Hour // the batch leaves when the held call ends, not on a timer
	b.inFlight++         // a ledger call under way: new transfers must wait for it together
	b.mu.Unlock()

	type answer struct {
		code int
		res  ledger.TransferResult
		err  string
	}
	sends := []ledger.Transfer{
		{ID: "b1", From: "s", To: "d", Amount: 10},
		{ID: "b2", From: "s", To: "d", Amount: 20},
		{ID: "b1", From: "s", To: "d", Amount: 10}, // resubmission: answered as a duplicate, applied once
		{ID: "b2", From: "s", To: "d", Amount: 21}, // id reused with another body: 409, nothing applied
		{ID: "b3", From: "s", To: "d", Amount: 1000},
	}
	answers := make([]answer, len(sends))
	var wg sync.WaitGroup
	for i, tr := range sends {
		if i == 2 || i == 3 { // after the transfers they repeat, so the batch holds them in this order
			waitFor(t, 10*time.Second, "earlier transfers joined the batch", func() (bool, string) {
				b.mu.Lock()
				defer b.mu.Unlock()
				return b.open != nil && len(b.open.items) >= i, ""
			})
		}
		wg.Go(func() {
			code, raw := l.call("POST", "/v1/transfers", tr)
			a := answer{code: code}
			if code == http.StatusOK {
				_ = json.Unmarshal(raw, &a.res)
			} else {
				a.err = errorOf(t, raw)
			}
			answers[i] = a
		})
	}
	waitFor(t, 10*time.Second, "every transfer joined the batch", func() (bool, string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.open == nil {
			return false, "no open batch"
		}
		return len(b.open.items) == len(sends), ""
	})
	before := l.metric("paylab_gateway_ledger_batch_transfers_count")
	b.callDone() // the held call ends: the batch leaves as one ledger call
	wg.Wait()

	want := []answer{
		{code: 200, res: ledger.TransferResult{ID: "b1", Status: ledger.StatusCommitted}},
		{code: 200, res: ledger.TransferResult{ID: "b2", Status: ledger.StatusCommitted}},
		{code: 200, res: ledger.TransferResult{ID: "b1", Status: ledger.StatusCommitted, Duplicate: true}},
		{code: 409, err: ledger.ReasonIDConflict},
		{code: 200, res: ledger.TransferResult{ID: "b3", Status: ledger.StatusRejected, Reason: ledger.ReasonInsufficientFunds}},
	}
	for i := range want {
		got := answers[i]
		got.res.Index = 0
		if got != want[i] {
			t.Errorf("transfer %d %+v: answered %+v, want %+v", i, sends[i], got, want[i])
		}
	}
	if after := l.metric("paylab_gateway_ledger_batch_transfers_count"); before != "1" || after != "2" {
		t.Errorf("ledger transfer calls: %s before the batch, %s after; want 1 and 2 (one call for the whole batch)", before, after)
	}
	l.wantBalances(map[string]int64{"s": 69, "d": 31})
}
