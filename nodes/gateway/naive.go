package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// claimPayment is the naive idempotency's decision (Config.IdempotencyMode naive): the client's key is
// claimed in Redis; a held key is a payment in progress (503 in_progress with Retry-After, so a client
// retries with the same id and finds the decided result; a decided one was answered from the idempotency
// cache before this — 409 would read as "id reused with another body"). When the store fails, FailOpen treats the payment as new. It returns
// true when it wrote the answer.
func (g *Gateway) claimPayment(ctx context.Context, w http.ResponseWriter, t ledger.Transfer, ticket Ticket) bool {
	ok, err := g.cfg.Claims.Claim(ctx, t.ID)
	switch {
	case err != nil && g.cfg.FailOpen:
		g.log.Warn("idempotency store failed; treating the payment as new (fail open)", "transfer", t.ID, "err", err)
		return false
	case err != nil:
		ticket.Done(time.Now(), Ignored)
		w.Header().Set("Retry-After", "1")
		ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorIdempotencyUnavailable, Detail: err.Error()})
		return true
	case !ok:
		ticket.Done(time.Now(), Ignored)
		w.Header().Set("Retry-After", "1")
		ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorInProgress, Detail: "payment " + t.ID + " is being processed; retry later with the same id"})
		return true
	}
	return false
}

// Error codes of the naive mechanisms.
const (
	// ErrorInProgress: the naive idempotency key of this payment is held by a request still being served.
	ErrorInProgress = "in_progress"
	// ErrorIdempotencyUnavailable: the naive idempotency store failed and the gateway fails closed.
	ErrorIdempotencyUnavailable = "idempotency_unavailable"
)

// readCheckWrite is the naive lock's transfer (Config.Lock naive), as payment teams first write it under
// Redis locks on both accounts (lockAccounts): read both balances through the balance cache, check the
// funds, then set each account's new balance with the ledger's blind balance write. Nothing makes the two
// writes one (a failure between them loses the debit's money), nothing fences them (the naive lock has no
// token), so a holder that outlives its lock's TTL — a pause, a slow call — writes balances computed from
// what it read before, over whatever the next holder wrote: a lost update. The journal keeps what each write read (read_balance, read_version),
// which is how the checkers see it. t.Payment (or t.ID) is the payment the writes serve.
func (g *Gateway) readCheckWrite(ctx context.Context, t ledger.Transfer) client.TransferResult {
	fail := func(o outcome.Kind, err error) client.TransferResult {
		return client.TransferResult{TransferResult: ledger.TransferResult{ID: t.ID}, Outcome: o, Err: err}
	}
	read := func(id string) (ledger.AccountState, error) {
		// A linearizable read: with the cache off the lock is the only weak point (a read from a lagging
		// replica would lose updates with no pause at all); with it on, the cache's staleness is the naive
		// design's own.
		return g.readThroughCache(ctx, id, func(ctx context.Context) (ledger.AccountState, error) {
			g.countLedgerRead()
			return g.ledger.Account(ctx, id, false)
		})
	}
	from, err := read(t.From)
	if err != nil {
		return g.readFailed(t, err)
	}
	to, err := read(t.To)
	if err != nil {
		return g.readFailed(t, err)
	}
	if from.Balance < t.Amount {
		return client.TransferResult{TransferResult: ledger.TransferResult{ID: t.ID, Status: ledger.StatusRejected, Reason: ledger.ReasonInsufficientFunds}, Outcome: outcome.Rejected}
	}
	payment := t.PaymentKey()
	write := func(acc ledger.AccountState, balance int64) (ledger.BalanceWriteResult, outcome.Kind, error) {
		return g.ledger.WriteBalance(ctx, ledger.BalanceWrite{Account: acc.ID, Balance: balance, Payment: payment,
			HasRead: true, ReadBalance: acc.Balance, ReadVersion: acc.Version})
	}
	if _, o, err := write(from, from.Balance-t.Amount); o != outcome.OK {
		return fail(o, fmt.Errorf("debit %s: %w", t.From, err))
	}
	r, o, err := write(to, to.Balance+t.Amount)
	if o != outcome.OK {
		// The debit applied and the credit did not: the payment's money is gone. Not a retryable state.
		return fail(outcome.Failed, fmt.Errorf("credit %s after the debit of %s applied: %w", t.To, t.From, err))
	}
	return client.TransferResult{TransferResult: ledger.TransferResult{ID: t.ID, Status: ledger.StatusCommitted, Index: r.Index}, Outcome: outcome.OK}
}

// readFailed maps a failed balance read of readCheckWrite: an absent account rejects the payment.
func (g *Gateway) readFailed(t ledger.Transfer, err error) client.TransferResult {
	if isAbsent(err) {
		return client.TransferResult{TransferResult: ledger.TransferResult{ID: t.ID, Status: ledger.StatusRejected, Reason: ledger.ReasonUnknownAccount}, Outcome: outcome.Rejected}
	}
	return client.TransferResult{TransferResult: ledger.TransferResult{ID: t.ID}, Outcome: outcome.Failed, Err: fmt.Errorf("read balances for %s: %w", t.ID, err)}
}
