package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// MaxBodyBytes is the largest request body the API reads, as at the ledger; larger bodies get 413.
const MaxBodyBytes = ledger.MaxBodyBytes

// Error reasons the gateway adds to the ledger's (the "error" field of a JSON error answer). The status codes
// keep the ledger client's contract: every 503 (and 429) from the gateway means the request was not applied
// and may be retried; only 504 means the transfer may have applied, and a retry must reuse its id.
const (
	// ErrorOutcomeUnknown (504): the ledger may or may not have applied the transfer; retry with the same id.
	ErrorOutcomeUnknown = "outcome_unknown"
	// ErrorLedgerUnavailable (503): no ledger leader answered, or the circuit breaker is open.
	ErrorLedgerUnavailable = "ledger_unavailable"
	// ErrorOverloaded (503): MaxInFlight payment requests are already being served.
	ErrorOverloaded = "overloaded"
	// ErrorNonceStoreUnavailable (503): the nonce store could not decide; nothing was forwarded.
	ErrorNonceStoreUnavailable = "nonce_store_unavailable"
	// ErrorRateLimited (429): the rate limiter refused the request; see Retry-After.
	ErrorRateLimited = "rate_limited"
)

// ErrorBody is every error answer: the ledger's shape, {"error", "detail", "leader"}.
type ErrorBody = ledger.ErrorBody

// Handler returns the gateway's HTTP API. The payment routes (/v1/transfers, /v1/accounts…) are signed when
// RequireSignature is set and bounded by MaxInFlight; /healthz, /metrics, /v1/status and /debug/pprof/ are
// open, for health checkers, scrapers and profilers (the gateway only ever listens on loopback).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, g.instrument(name, h))
	}
	route("POST /v1/transfers", "transfer", g.payment(g.handleTransfer))
	route("POST /v1/accounts", "create_account", g.payment(g.handleCreateAccount))
	route("GET /v1/accounts/{id}", "get_account", g.payment(g.handleGetAccount))
	route("GET /v1/status", "status", g.handleStatus)
	route("GET /healthz", "healthz", g.handleHealthz)
	route("GET /metrics", "metrics", promhttp.HandlerFor(g.met.reg, promhttp.HandlerOpts{}).ServeHTTP)
	// pprof, as on the ledger nodes: the lab's --profile reads goroutine dumps and CPU profiles here.
	ledger.MountPprof(mux)
	route("/", "not_found", func(w http.ResponseWriter, r *http.Request) {
		ledger.WriteJSON(w, http.StatusNotFound, ErrorBody{Error: "not_found", Detail: r.Method + " " + r.URL.Path + " is not part of the API"})
	})
	return mux
}

func (g *Gateway) instrument(route string, h http.HandlerFunc) http.Handler {
	hist := g.met.duration.WithLabelValues(route)
	ok := g.met.requests.WithLabelValues(route, "200") // most answers: no label lookup per request
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &ledger.StatusRecorder{ResponseWriter: w, Code: http.StatusOK}
		h(rec, r)
		hist.Observe(time.Since(start).Seconds())
		if rec.Code == http.StatusOK {
			ok.Inc()
		} else {
			g.met.requests.WithLabelValues(route, strconv.Itoa(rec.Code)).Inc()
		}
	})
}

// payment wraps a payment route: an in-flight slot, the body read within MaxBodyBytes, then the signature,
// timestamp and nonce checks. Only a request that passes all of them reaches h, so a replay is refused before
// anything is forwarded to the ledger.
func (g *Gateway) payment(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.inFlight <- struct{}{}:
			defer func() { <-g.inFlight }()
		default:
			w.Header().Set("Retry-After", "1")
			ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorOverloaded, Detail: fmt.Sprintf("%d requests in flight", cap(g.inFlight))})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				ledger.WriteJSON(w, http.StatusRequestEntityTooLarge, ErrorBody{Error: "body_too_large", Detail: fmt.Sprintf("bodies are limited to %d bytes", MaxBodyBytes)})
				return
			}
			ledger.WriteJSON(w, http.StatusBadRequest, ErrorBody{Error: "invalid_request", Detail: fmt.Sprintf("read body: %v", err)})
			return
		}
		if g.signer != nil && !g.authenticate(w, r, body) {
			return
		}
		h(w, r, body)
	}
}

// authenticate verifies the signature and spends the nonce; on refusal it has written the answer.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, body []byte) bool {
	now := time.Now()
	reject := func(e *SignatureError) bool {
		g.met.signatureRejections.WithLabelValues(e.Reason).Inc()
		ledger.WriteJSON(w, http.StatusUnauthorized, ErrorBody{Error: e.Reason, Detail: e.Detail})
		return false
	}
	sr, err := g.signer.verify(r, body, now, g.cfg.MaxSkew)
	if err != nil {
		var se *SignatureError
		if errors.As(err, &se) {
			return reject(se)
		}
		return reject(&SignatureError{RejectBadSignature, err.Error()})
	}
	fresh, err := g.nonces.Remember(r.Context(), sr.nonce, now, sr.expires)
	if err != nil {
		g.log.Warn("nonce store refused", "err", err)
		ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorNonceStoreUnavailable, Detail: err.Error()})
		return false
	}
	if !fresh {
		return reject(&SignatureError{RejectReplayedNonce, fmt.Sprintf("nonce %q was used before; sign every request with a new nonce", sr.nonce)})
	}
	return true
}

func writeInvalid(w http.ResponseWriter, err error) {
	ledger.WriteJSON(w, http.StatusBadRequest, ErrorBody{Error: "invalid_request", Detail: err.Error()})
}

// ledgerVerdict says what the end of a ledger call means for the breaker. Only definite unavailability is a
// failure: a transport error, a 503, a timeout. An answer that decides the request — committed, rejected, or
// a 4xx about the request itself — proves the ledger reachable. A call cut short because our caller went
// away says nothing.
func ledgerVerdict(ctx context.Context, o outcome.Kind, err error) Result {
	switch {
	case o == outcome.OK || o == outcome.Rejected:
		return Success
	case ctx.Err() != nil:
		return Ignored
	case o == outcome.Unknown:
		return Failure
	}
	var api *client.APIError
	if errors.As(err, &api) && api.Code >= 400 && api.Code < 500 {
		return Success
	}
	return Failure
}

// writeLedgerError answers a ledger call that did not succeed: the ledger's own 4xx passes through, anything
// else is ledger_unavailable.
func writeLedgerError(w http.ResponseWriter, err error) {
	var api *client.APIError
	if errors.As(err, &api) && api.Code >= 400 && api.Code < 500 {
		ledger.WriteJSON(w, api.Code, ErrorBody{Error: api.Reason, Detail: api.Detail})
		return
	}
	if errors.Is(err, ledger.ErrNotFound) { // the balance cache remembered the ledger's 404
		ledger.WriteJSON(w, http.StatusNotFound, ErrorBody{Error: ledger.ErrorNotFound, Detail: err.Error()})
		return
	}
	w.Header().Set("Retry-After", "1")
	ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorLedgerUnavailable, Detail: err.Error()})
}

// allowLedger asks the breaker for a call; when it refuses, the answer is written and ok is false.
func (g *Gateway) allowLedger(w http.ResponseWriter) (Ticket, bool) {
	t, err := g.breaker.Allow(time.Now())
	if err != nil {
		w.Header().Set("Retry-After", "1")
		ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorLedgerUnavailable, Detail: err.Error()})
		return t, false
	}
	return t, true
}

// allowRate asks the rate limiter; when it refuses, the answer is written and ok is false.
func (g *Gateway) allowRate(w http.ResponseWriter, r *http.Request, key string) bool {
	ok, retry, err := g.limiter.Allow(r.Context(), key)
	switch {
	case err != nil:
		ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: "rate_limiter_unavailable", Detail: err.Error()})
		return false
	case !ok:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
		ledger.WriteJSON(w, http.StatusTooManyRequests, ErrorBody{Error: ErrorRateLimited, Detail: fmt.Sprintf("retry after %v", retry)})
		return false
	}
	return true
}

// handleTransfer forwards one transfer through the ledger client (which retries it with the same id across
// leader changes) and maps the client's outcome to HTTP: decided → 200 with the ledger's result, id reused
// with another body → 409, unknown → 504 (retry with the same id), unavailable → 503.
func (g *Gateway) handleTransfer(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	t, err := ledger.DecodeTransferJSON(body)
	if err != nil {
		writeInvalid(w, err)
		return
	}
	if !g.allowRate(w, r, t.From) {
		return
	}
	if ct, res, ok, err := g.idem.Get(ctx, t.ID); err != nil {
		g.log.Warn("idempotency cache get failed; asking the ledger", "transfer", t.ID, "err", err)
	} else if ok && ct == t {
		res.Duplicate = true
		ledger.WriteJSON(w, http.StatusOK, res)
		return
	} else if ok {
		ledger.WriteJSON(w, http.StatusConflict, ErrorBody{Error: ledger.ReasonIDConflict, Detail: "transfer id " + t.ID + " was used before with a different body"})
		return
	}
	ticket, ok := g.allowLedger(w)
	if !ok {
		return
	}
	if g.cfg.IdempotencyMode == ModeNaive && g.claimPayment(ctx, w, t, ticket) {
		return
	}
	res, err := g.forward(ctx, t)
	if err != nil {
		ticket.Done(time.Now(), Ignored)
		ledger.WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: "lock_unavailable", Detail: err.Error()})
		return
	}
	ticket.Done(time.Now(), ledgerVerdict(ctx, res.Outcome, res.Err))
	g.met.ledgerCall(res.Outcome)
	switch {
	case res.Outcome == outcome.Rejected && res.Conflict:
		ledger.WriteJSON(w, http.StatusConflict, ErrorBody{Error: ledger.ReasonIDConflict, Detail: "transfer id " + t.ID + " was used before with a different body"})
	case res.Outcome == outcome.OK || res.Outcome == outcome.Rejected:
		if res.Status == ledger.StatusCommitted {
			if err := g.balances.Invalidate(ctx, t.From, t.To); err != nil {
				g.log.Warn("balance cache invalidate failed", "transfer", t.ID, "err", err)
			}
		}
		if err := g.idem.Put(ctx, t, res.TransferResult); err != nil {
			g.log.Warn("idempotency cache put failed", "transfer", t.ID, "err", err)
		}
		if g.cfg.Broken.AckRejectedButCommit && res.Status == ledger.StatusCommitted {
			// Test-only: tell the client its committed payment was rejected.
			res.Status, res.Reason = ledger.StatusRejected, ledger.ReasonInsufficientFunds
		}
		ledger.WriteJSON(w, http.StatusOK, res.TransferResult)
	case res.Outcome == outcome.Unknown:
		ledger.WriteJSON(w, http.StatusGatewayTimeout, ErrorBody{Error: ErrorOutcomeUnknown, Detail: fmt.Sprintf("transfer %s may or may not have committed; retry with the same id: %v", t.ID, res.Err)})
	default:
		writeLedgerError(w, fmt.Errorf("transfer %s: %w", t.ID, res.Err))
	}
}

// forward sends a payment to the ledger under the debited account's lock: as a transfer (group-committed
// with others, through the batcher), or — the naive lock — as read-check-write with blind balance writes.
// The naive idempotency sends it under a fresh transfer id carrying the client's id as its payment key. The
// error is the lock's (the payment was not sent); the result carries the client's id.
func (g *Gateway) forward(ctx context.Context, t ledger.Transfer) (client.TransferResult, error) {
	release, err := g.lockAccounts(ctx, t)
	if err != nil {
		return client.TransferResult{}, err
	}
	defer release()
	sent := t
	switch {
	case g.cfg.IdempotencyMode == ModeNaive:
		// Redis decided the payment is new: the ledger gets a transfer id of the gateway's, so it cannot
		// recognise a payment whose key Redis forgot.
		sent.ID, sent.Payment = g.ledger.NewID(), t.ID
	case g.cfg.Broken.NewLedgerIDOnRetry && g.forwardedBefore(t.ID):
		// Test-only: a retry goes to the ledger as a new transfer serving the same payment.
		sent.ID, sent.Payment = g.ledger.NewID(), t.ID
	}
	var res client.TransferResult
	if g.cfg.Lock == ModeNaive {
		res = g.readCheckWrite(ctx, sent)
	} else {
		res = g.batcher.transfer(ctx, sent)
	}
	res.ID = t.ID
	return res, nil
}

// lockAccounts takes the payment's locks: the debited account's around a ledger transfer (which needs no
// lock to be right); both accounts, in id order so two payments never wait on each other, around the naive
// read-check-write, which writes both. The returned func releases them, newest first.
func (g *Gateway) lockAccounts(ctx context.Context, t ledger.Transfer) (func(), error) {
	ids := []string{t.From}
	if g.cfg.Lock == ModeNaive && t.To != t.From {
		ids = append(ids, t.To)
		slices.Sort(ids)
	}
	var leases []Lease
	release := func() {
		for i := len(leases) - 1; i >= 0; i-- {
			leases[i].Release(context.WithoutCancel(ctx))
		}
	}
	for _, id := range ids {
		l, err := g.locks.Lock(ctx, id)
		if err != nil {
			release()
			return nil, fmt.Errorf("lock account %s: %w", id, err)
		}
		leases = append(leases, l)
	}
	return release, nil
}

// handleCreateAccount creates one account: 201, or 409 when it exists. The ledger client creates accounts in
// batches that leave existing ids alone without saying so, so the gateway reads the id first (exists → 409)
// and reads it back after (an opening balance other than ours → someone else created it meanwhile → 409).
// Two concurrent creates with the same id and balance both get 201; the account is the same either way.
//
// The first read is a stale read at the leader the client uses: accounts are never deleted, so "exists" is
// certain even from a lagging replica, and a missed one is caught by the read-back. (A linearizable read
// there would hang on a cluster that has not written since its election: the ledger's read barrier waits for
// the state machine to apply raft's no-op entry, which it never sees — reported to the ledger's owner.)
func (g *Gateway) handleCreateAccount(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	var a ledger.Account
	if err := ledger.DecodeStrict(body, &a); err != nil {
		writeInvalid(w, err)
		return
	}
	if err := a.Validate(); err != nil {
		writeInvalid(w, err)
		return
	}
	if !g.allowRate(w, r, a.ID) {
		return
	}
	ticket, ok := g.allowLedger(w)
	if !ok {
		return
	}
	exists := func(acc ledger.AccountState) {
		ledger.WriteJSON(w, http.StatusConflict, ErrorBody{Error: "exists", Detail: fmt.Sprintf("account %s already exists (opening balance %d)", acc.ID, acc.Initial)})
	}
	// fail ends the call for the breaker and answers; err comes from the ledger client.
	fail := func(o outcome.Kind, err error) {
		ticket.Done(time.Now(), ledgerVerdict(ctx, o, err))
		writeLedgerError(w, err)
	}
	acc, err := g.ledger.Account(ctx, a.ID, true)
	var api *client.APIError
	switch {
	case err == nil:
		ticket.Done(time.Now(), Success)
		exists(acc)
		return
	case !errors.As(err, &api) || api.Code != http.StatusNotFound:
		fail(outcome.Failed, err)
		return
	}
	if err := g.ledger.CreateAccounts(ctx, []ledger.Account{a}); err != nil {
		fail(outcome.Failed, fmt.Errorf("create account %s: %w", a.ID, err))
		return
	}
	ticket.Done(time.Now(), Success)
	if acc, err := g.ledger.Account(ctx, a.ID, false); err == nil && acc.Initial != a.Balance {
		exists(acc)
		return
	}
	ledger.WriteJSON(w, http.StatusCreated, ledger.AccountResult{ID: a.ID, Created: true})
}

// handleGetAccount reads one account: linearizable at the ledger leader, or with ?stale=true from any replica
// (and then from the balance cache when one is configured).
func (g *Gateway) handleGetAccount(w http.ResponseWriter, r *http.Request, _ []byte) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !ledger.ValidID(id) {
		writeInvalid(w, fmt.Errorf("%w: account id %q must match [A-Za-z0-9_.-]{1,64}", ledger.ErrInvalid, id))
		return
	}
	stale := false
	if s := r.URL.Query().Get("stale"); s != "" {
		var err error
		if stale, err = strconv.ParseBool(s); err != nil {
			writeInvalid(w, fmt.Errorf("%w: stale=%q is not a boolean", ledger.ErrInvalid, s))
			return
		}
	}
	if !g.allowRate(w, r, id) {
		return
	}
	answered := false // load wrote the answer (the breaker refused)
	load := func(ctx context.Context) (ledger.AccountState, error) {
		ticket, ok := g.allowLedger(w)
		if !ok {
			answered = true
			return ledger.AccountState{}, errBreakerOpen
		}
		g.countLedgerRead()
		acc, err := g.ledger.Account(ctx, id, stale)
		if err != nil {
			ticket.Done(time.Now(), ledgerVerdict(ctx, outcome.Failed, err))
			return acc, err
		}
		ticket.Done(time.Now(), Success)
		return acc, nil
	}
	var acc ledger.AccountState
	var err error
	if stale {
		acc, err = g.readThroughCache(ctx, id, load)
	} else {
		acc, err = load(ctx)
	}
	switch {
	case answered:
	case err != nil:
		writeLedgerError(w, err)
	default:
		ledger.WriteJSON(w, http.StatusOK, acc)
	}
}

// countLedgerRead counts one balance read sent to the ledger (Config.Counts).
func (g *Gateway) countLedgerRead() {
	if g.cfg.Counts != nil {
		g.cfg.Counts.LedgerReads.Add(1)
	}
}

// readThroughCache reads an account through the balance cache, load asking the ledger on a miss (load
// counts its own ledger reads), and counts a cache hit (Config.Counts).
func (g *Gateway) readThroughCache(ctx context.Context, id string, load func(context.Context) (ledger.AccountState, error)) (ledger.AccountState, error) {
	acc, hit, err := g.balances.Read(ctx, id, load)
	if hit && g.cfg.Counts != nil {
		g.cfg.Counts.CacheHits.Add(1)
	}
	return acc, err
}

// errBreakerOpen is load's error when the breaker refused the ledger call (and wrote the answer).
var errBreakerOpen = errors.New("circuit breaker open")

func (g *Gateway) handleStatus(w http.ResponseWriter, _ *http.Request) {
	ledger.WriteJSON(w, http.StatusOK, g.Status())
}

// healthzBody is the answer of GET /healthz.
type healthzBody struct {
	Health
	Breaker BreakerState `json:"breaker"`
}

func (g *Gateway) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	h := g.Health()
	code := http.StatusOK
	if !h.OK {
		code = http.StatusServiceUnavailable
	}
	ledger.WriteJSON(w, code, healthzBody{Health: h, Breaker: g.BreakerState()})
}
