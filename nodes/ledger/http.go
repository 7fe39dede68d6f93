package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxBodyBytes is the largest request body the API reads; larger bodies get 413.
const MaxBodyBytes = 1 << 20

// ErrorBody is every error answer of the API: {"error": reason, "detail": text, "leader": node id}. The
// gateway answers with the same shape and the client parses it.
type ErrorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
	Leader string `json:"leader,omitempty"`
}

// Handler returns the node's HTTP API (see DESIGN.md "Ledger HTTP API").
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, n.instrument(name, h))
	}
	route("POST /v1/accounts", "create_account", n.handleCreateAccount)
	route("POST /v1/accounts/batch", "create_accounts", n.handleCreateAccounts)
	route("GET /v1/accounts/{id}", "get_account", n.handleGetAccount)
	route("PUT /v1/accounts/{id}/balance", "write_balance", n.handleWriteBalance)
	route("POST /v1/transfers", "transfer", n.handleTransfer)
	route("POST /v1/transfers/batch", "transfer_batch", n.handleTransferBatch)
	route("GET /v1/transfers/{id}", "get_transfer", n.handleGetTransfer)
	route("GET /v1/status", "status", n.handleStatus)
	route("GET /v1/export", "export", n.handleExport)
	route("GET /healthz", "healthz", n.handleHealthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.met.reg, promhttp.HandlerOpts{}))
	MountPprof(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusNotFound, ErrorBody{Error: ErrorNotFound, Detail: r.Method + " " + r.URL.Path + " is not part of the API"})
	})
	return mux
}

// StatusRecorder remembers the status code a handler wrote, for metrics. The gateway uses it too: both
// nodes share these HTTP conventions (strict JSON in, JSON errors out, pprof on loopback).
type StatusRecorder struct {
	http.ResponseWriter
	// Code is the status written (200 when the handler wrote none).
	Code int
}

// WriteHeader records code and passes it on.
func (s *StatusRecorder) WriteHeader(code int) {
	s.Code = code
	s.ResponseWriter.WriteHeader(code)
}

// MountPprof serves net/http/pprof under /debug/pprof/ on mux (not on http.DefaultServeMux: several nodes
// share one process).
func MountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

func (n *Node) instrument(route string, h http.HandlerFunc) http.Handler {
	hist := n.met.httpDuration
	ok := hist.WithLabelValues(route, "200") // most answers: no label lookup per request
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &StatusRecorder{ResponseWriter: w, Code: http.StatusOK}
		h(rec, r)
		o := ok
		if rec.Code != http.StatusOK {
			o = hist.WithLabelValues(route, strconv.Itoa(rec.Code))
		}
		o.Observe(time.Since(start).Seconds())
	})
}

// WriteJSON answers with v as JSON and code. Transfer results and accounts, which every payment returns,
// are encoded without reflection (same bytes).
func WriteJSON(w http.ResponseWriter, code int, v any) {
	var b []byte
	switch v := v.(type) {
	case TransferResult:
		b = AppendTransferResultJSON(make([]byte, 0, 128), v)
	case AccountState:
		b = AppendAccountStateJSON(make([]byte, 0, 128), v)
	case TransfersBatchResponse:
		b = AppendTransfersBatchResponseJSON(make([]byte, 0, 16+80*len(v.Results)), v.Results)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			code, b = http.StatusInternalServerError, []byte(`{"error":"encode_response"}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// writeError maps an error to its status code and JSON reason.
func (n *Node) writeError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteJSON(w, http.StatusRequestEntityTooLarge, ErrorBody{Error: ErrorBodyTooLarge, Detail: fmt.Sprintf("bodies are limited to %d bytes", MaxBodyBytes)})
	case errors.Is(err, ErrInvalid):
		WriteJSON(w, http.StatusBadRequest, ErrorBody{Error: ErrorInvalidRequest, Detail: err.Error()})
	case errors.Is(err, ErrNotFound):
		WriteJSON(w, http.StatusNotFound, ErrorBody{Error: ErrorNotFound, Detail: err.Error()})
	case errors.Is(err, ErrExists):
		WriteJSON(w, http.StatusConflict, ErrorBody{Error: ErrorExists, Detail: err.Error()})
	case errors.Is(err, ErrConflict):
		WriteJSON(w, http.StatusConflict, ErrorBody{Error: ErrorConflict, Detail: err.Error()})
	case errors.Is(err, ErrNotLeader):
		WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorNotLeader, Leader: n.LeaderID()})
	case IsOutcomeUnknown(err), errors.Is(err, context.Canceled):
		WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorOutcomeUnknown, Detail: err.Error(), Leader: n.LeaderID()})
	case errors.Is(err, ErrOverloaded):
		w.Header().Set("Retry-After", "1")
		WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorOverloaded, Detail: err.Error()})
	case errors.Is(err, ErrClosed):
		WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: ErrorShuttingDown})
	default:
		WriteJSON(w, http.StatusInternalServerError, ErrorBody{Error: ErrorInternal, Detail: err.Error()})
	}
}

// decodeStrict reads exactly one JSON value into v: unknown fields, trailing data and bodies over
// MaxBodyBytes are errors.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	return DecodeStrict(body, v)
}

// DecodeStrict reads exactly one JSON value into v: unknown fields and trailing data are errors wrapping
// ErrInvalid.
func DecodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrInvalid)
	}
	return nil
}

// DecodeTransferJSON parses and validates one transfer request body, strictly as DecodeStrict does.
func DecodeTransferJSON(body []byte) (Transfer, error) {
	t, ok := decodeTransferFast(body)
	if !ok {
		t = Transfer{}
		if err := DecodeStrict(body, &t); err != nil {
			return Transfer{}, err
		}
	}
	if err := t.Validate(); err != nil {
		return Transfer{}, err
	}
	return t, nil
}

func (n *Node) handleCreateAccount(w http.ResponseWriter, r *http.Request) {
	var a Account
	if err := decodeStrict(w, r, &a); err != nil {
		n.writeError(w, err)
		return
	}
	res, err := n.CreateAccounts(r.Context(), []Account{a})
	if err != nil {
		n.writeError(w, err)
		return
	}
	if res[0].Exists {
		n.writeError(w, fmt.Errorf("account %s: %w", a.ID, ErrExists))
		return
	}
	WriteJSON(w, http.StatusCreated, res[0])
}

// AccountsBatch is the body of POST /v1/accounts/batch.
type AccountsBatch struct {
	Accounts []Account `json:"accounts"`
}

func (n *Node) handleCreateAccounts(w http.ResponseWriter, r *http.Request) {
	var b AccountsBatch
	if err := decodeStrict(w, r, &b); err != nil {
		n.writeError(w, err)
		return
	}
	res, err := n.CreateAccounts(r.Context(), b.Accounts)
	if err != nil {
		n.writeError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"results": res})
}

func (n *Node) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		n.writeError(w, fmt.Errorf("%w: account id %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, id))
		return
	}
	stale := false
	if s := r.URL.Query().Get("stale"); s != "" {
		var err error
		if stale, err = strconv.ParseBool(s); err != nil {
			n.writeError(w, fmt.Errorf("%w: stale=%q is not a boolean", ErrInvalid, s))
			return
		}
	}
	a, err := n.Account(r.Context(), id, stale)
	if err != nil {
		n.writeError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, a)
}

// balanceWriteBody is the body of PUT /v1/accounts/{id}/balance. read_balance and read_version, given
// together or not at all, are what the writer read before computing balance; the journal keeps them.
type balanceWriteBody struct {
	Balance     *int64  `json:"balance"`
	Payment     string  `json:"payment"`
	Fence       uint64  `json:"fence,omitempty"`
	ReadBalance *int64  `json:"read_balance,omitempty"`
	ReadVersion *uint64 `json:"read_version,omitempty"`
}

func (n *Node) handleWriteBalance(w http.ResponseWriter, r *http.Request) {
	var b balanceWriteBody
	if err := decodeStrict(w, r, &b); err != nil {
		n.writeError(w, err)
		return
	}
	if b.Balance == nil {
		n.writeError(w, fmt.Errorf("%w: balance is required", ErrInvalid))
		return
	}
	if (b.ReadBalance == nil) != (b.ReadVersion == nil) {
		n.writeError(w, fmt.Errorf("%w: read_balance and read_version go together", ErrInvalid))
		return
	}
	bw := BalanceWrite{Account: r.PathValue("id"), Balance: *b.Balance, Payment: b.Payment, Fence: b.Fence}
	if b.ReadBalance != nil {
		bw.HasRead, bw.ReadBalance, bw.ReadVersion = true, *b.ReadBalance, *b.ReadVersion
	}
	res, err := n.WriteBalance(r.Context(), bw)
	if err != nil {
		n.writeError(w, err)
		return
	}
	switch res.Reason {
	case "":
		WriteJSON(w, http.StatusOK, res)
	case ReasonUnknownAccount:
		n.writeError(w, fmt.Errorf("account %s: %w", res.Account, ErrNotFound))
	case "stale_fence":
		WriteJSON(w, http.StatusConflict, ErrorBody{Error: ErrorStaleFence, Detail: fmt.Sprintf("fence %d is below the highest seen for %s", b.Fence, res.Account)})
	default:
		WriteJSON(w, http.StatusBadRequest, ErrorBody{Error: res.Reason})
	}
}

func (n *Node) handleTransfer(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		n.writeError(w, fmt.Errorf("read body: %w", err))
		return
	}
	t, err := DecodeTransferJSON(body)
	if err != nil {
		n.writeError(w, err)
		return
	}
	res, err := n.Transfer(r.Context(), t)
	if err != nil {
		n.writeError(w, err)
		return
	}
	if res.Conflict {
		WriteJSON(w, http.StatusConflict, ErrorBody{Error: ReasonIDConflict, Detail: "transfer id " + t.ID + " was used before with a different body"})
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// TransfersBatch is the body of POST /v1/transfers/batch.
type TransfersBatch struct {
	Transfers []Transfer `json:"transfers"`
}

// TransfersBatchResponse is the answer to POST /v1/transfers/batch: one result per transfer, in order.
// A conflicting id appears as status "rejected", reason "id_conflict".
type TransfersBatchResponse struct {
	Results []TransferResult `json:"results"`
}

func (n *Node) handleTransferBatch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		n.writeError(w, fmt.Errorf("read body: %w", err))
		return
	}
	b, err := DecodeTransfersBatchJSON(body)
	if err != nil {
		n.writeError(w, err)
		return
	}
	res, err := n.TransferBatch(r.Context(), b.Transfers)
	if err != nil {
		n.writeError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, TransfersBatchResponse{Results: res})
}

// TransferLookup is the answer to GET /v1/transfers/{id}: the transfer as stored and its result.
type TransferLookup struct {
	Transfer Transfer       `json:"transfer"`
	Result   TransferResult `json:"result"`
}

func (n *Node) handleGetTransfer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		n.writeError(w, fmt.Errorf("%w: transfer id %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, id))
		return
	}
	if r.URL.Query().Get("stale") != "true" {
		if err := n.ReadBarrier(r.Context()); err != nil {
			n.writeError(w, err)
			return
		}
	}
	t, res, err := n.fsm.LookupTransfer(id)
	if err != nil {
		n.writeError(w, fmt.Errorf("transfer %s: %w", id, err))
		return
	}
	WriteJSON(w, http.StatusOK, TransferLookup{Transfer: t, Result: res})
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := n.Status()
	if h := r.URL.Query().Get("hash"); h == "true" || h == "1" {
		sum, err := n.fsm.Summary()
		if err != nil {
			n.writeError(w, err)
			return
		}
		st.StateHash, st.AppliedIndex = sum.Hash, sum.AppliedIndex
	}
	WriteJSON(w, http.StatusOK, st)
}

func (n *Node) handleHealthz(w http.ResponseWriter, r *http.Request) {
	st := n.Status()
	if st.Leader == "" {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "reason": "no leader known", "state": st.State})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "state": st.State, "leader": st.Leader})
}

// handleExport streams the local replica's whole state as JSON lines (see FSM.Export). It reads this replica
// only: the lab exports every replica after a run and compares them.
func (n *Node) handleExport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := n.fsm.Export(w, n.cfg.ID); err != nil {
		// Headers may be out already; the truncated stream and the missing trailer line tell the reader.
		fmt.Fprintf(w, "{\"type\":\"error\",\"error\":%q}\n", err.Error())
	}
}
