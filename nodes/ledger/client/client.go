// Package client is the one way paylab talks to a ledger cluster — or to a gateway, whose API mirrors the
// ledger's — over HTTP: it keeps track of the leader,
// retries a write with the same idempotency key on not_leader and connection errors, bounds every attempt
// with a timeout, and reports a write whose fate it cannot know (timeout, connection lost after sending) as
// Unknown — it may have committed — never as Failed. It makes time-ordered (ULID) ids for callers that
// have none, so the ledger's dedupe index grows at its end.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"paylab/nodes/ledger"
	"paylab/outcome"
)

// Config configures a client.
type Config struct {
	// Nodes maps ledger node id to base URL ("http://127.0.0.1:port").
	Nodes map[string]string
	// AttemptTimeout bounds one HTTP attempt.
	AttemptTimeout time.Duration
	// Deadline bounds a whole call, retries included, when the caller's context has no earlier deadline.
	Deadline time.Duration
	// MaxAttempts bounds attempts per call.
	MaxAttempts int
	// Backoff is the pause before retrying when no leader is known; it doubles up to 8×.
	Backoff time.Duration
	// MaxConnsPerNode bounds open connections to each node.
	MaxConnsPerNode int
	// Transport, when set, sends requests through net/http with this RoundTripper (tests, proxies, any
	// custom transport); its connection bounds are the caller's. When nil the client uses its own HTTP/1.1
	// transport (keep-alive connections, each request written and answered on the caller's goroutine),
	// which Dial, Signer and IdleTimeout configure.
	Transport http.RoundTripper
	// Dial, with the client's own transport, opens connections (default: a net.Dialer bounded by
	// AttemptTimeout). The lab dials through its DNS resolver and network links here.
	Dial DialFunc
	// Signer, with the client's own transport, signs every attempt (a gateway's HMAC signatures).
	Signer RequestSigner
	// IdleTimeout, with the client's own transport, closes connections idle for longer (0: never).
	IdleTimeout time.Duration
}

// DefaultConfig returns bounded defaults: 2 s per attempt, 10 s per call, 40 attempts (backoff up to 80 ms: an
// election of several seconds is ridden out), 1,024 connections per node.
func DefaultConfig(nodes map[string]string) Config {
	return Config{
		Nodes:           nodes,
		AttemptTimeout:  2 * time.Second,
		Deadline:        10 * time.Second,
		MaxAttempts:     40,
		Backoff:         10 * time.Millisecond,
		MaxConnsPerNode: 1024,
		IdleTimeout:     90 * time.Second,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Nodes) == 0 {
		return errors.New("client config: Nodes is empty")
	}
	if c.AttemptTimeout <= 0 || c.Deadline <= 0 || c.MaxAttempts < 1 || c.Backoff < 0 || c.MaxConnsPerNode < 1 || c.IdleTimeout < 0 {
		return fmt.Errorf("client config: timeouts, attempts and connections must be positive: %+v", c)
	}
	if c.Transport != nil && (c.Dial != nil || c.Signer != nil) {
		return errors.New("client config: Dial and Signer configure the client's own transport; with Transport set, dial and sign in it")
	}
	return nil
}

// Client talks to one ledger cluster. It is safe for concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client // with Config.Transport; nil with the client's own transport
	pool   *connPool    // the client's own transport; nil with Config.Transport
	ids    []string     // node ids, sorted
	leader atomic.Value
	idMu   sync.Mutex
	idGen  *ulid.MonotonicEntropy
}

// New returns a client for the cluster.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, idGen: ulid.Monotonic(rand.Reader, 0)}
	if cfg.Transport != nil {
		c.http = &http.Client{Transport: cfg.Transport}
	} else {
		p, err := newConnPool(cfg)
		if err != nil {
			return nil, err
		}
		c.pool = p
	}
	for id := range cfg.Nodes {
		c.ids = append(c.ids, id)
	}
	sort.Strings(c.ids)
	c.leader.Store(c.ids[0])
	return c, nil
}

// NewID returns a new time-ordered transfer id (a ULID, 26 characters).
func (c *Client) NewID() string {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	return ulid.MustNew(ulid.Now(), c.idGen).String()
}

// Config returns the client's configuration (for a derived client with other bounds).
func (c *Client) Config() Config { return c.cfg }

// Leader is the node id the client currently sends writes to.
func (c *Client) Leader() string { return c.leader.Load().(string) }

// Close releases idle connections. With the client's own transport, calls made after Close fail.
func (c *Client) Close() {
	if c.pool != nil {
		c.pool.close()
		return
	}
	c.http.CloseIdleConnections()
}

// CloseIdleConnections closes the connections not in use now; the client stays usable.
func (c *Client) CloseIdleConnections() {
	if c.pool != nil {
		c.pool.closeIdle()
		return
	}
	c.http.CloseIdleConnections()
}

// TransferResult is the answer to one transfer call.
type TransferResult struct {
	ledger.TransferResult
	Outcome outcome.Kind
	// Err says why the outcome is Failed or Unknown.
	Err error
	// Attempts is how many HTTP attempts the call made.
	Attempts int
	// Node is the node that answered last.
	Node string
}

// Transfer sends one transfer; an empty t.ID gets a new time-ordered id. Retries reuse the same id, so the
// transfer applies at most once whatever happens to the connection or the leader.
func (c *Client) Transfer(ctx context.Context, t ledger.Transfer) TransferResult {
	if t.ID == "" {
		t.ID = c.NewID()
	}
	body := ledger.AppendTransferJSON(make([]byte, 0, 128), t)
	var res TransferResult
	res.ID = t.ID
	a := c.call(ctx, http.MethodPost, "/v1/transfers", body, func(code int, raw []byte) (outcome.Kind, error) {
		switch code {
		case http.StatusOK:
			if err := ledger.DecodeTransferResultJSON(raw, &res.TransferResult); err != nil {
				return outcome.Unknown, fmt.Errorf("decode transfer answer: %w", err)
			}
			if res.Status == ledger.StatusCommitted {
				return outcome.OK, nil
			}
			return outcome.Rejected, nil
		case http.StatusConflict:
			res.Status, res.Reason, res.Conflict = ledger.StatusRejected, ledger.ReasonIDConflict, true
			return outcome.Rejected, nil
		}
		return outcome.Failed, httpError(code, raw)
	})
	res.Outcome, res.Err, res.Attempts, res.Node = a.outcome, a.err, a.attempts, a.node
	return res
}

// BatchResult is the answer to one batch call.
type BatchResult struct {
	Results  []ledger.TransferResult
	Outcome  outcome.Kind
	Err      error
	Attempts int
	Node     string
}

// TransferBatch sends up to ledger.MaxBatch transfers as one raft entry. Items without an id get one.
func (c *Client) TransferBatch(ctx context.Context, ts []ledger.Transfer) BatchResult {
	for i := range ts {
		if ts[i].ID == "" {
			ts[i].ID = c.NewID()
		}
	}
	body := ledger.AppendTransfersBatchJSON(make([]byte, 0, 16+80*len(ts)), ts)
	var res BatchResult
	a := c.call(ctx, http.MethodPost, "/v1/transfers/batch", body, func(code int, raw []byte) (outcome.Kind, error) {
		if code != http.StatusOK {
			return outcome.Failed, httpError(code, raw)
		}
		b, err := ledger.DecodeTransfersBatchResponseJSON(raw)
		if err != nil {
			return outcome.Unknown, fmt.Errorf("decode batch answer: %w", err)
		}
		res.Results = b.Results
		return outcome.OK, nil
	})
	res.Outcome, res.Err, res.Attempts, res.Node = a.outcome, a.err, a.attempts, a.node
	return res
}

// CreateAccounts creates accounts in batches of ledger.MaxBatch; existing ids are left as they are.
func (c *Client) CreateAccounts(ctx context.Context, as []ledger.Account) error {
	for start := 0; start < len(as); start += ledger.MaxBatch {
		chunk := as[start:min(start+ledger.MaxBatch, len(as))]
		body, err := json.Marshal(ledger.AccountsBatch{Accounts: chunk})
		if err != nil {
			return err
		}
		a := c.call(ctx, http.MethodPost, "/v1/accounts/batch", body, func(code int, raw []byte) (outcome.Kind, error) {
			if code != http.StatusOK {
				return outcome.Failed, httpError(code, raw)
			}
			return outcome.OK, nil
		})
		if a.outcome != outcome.OK {
			return fmt.Errorf("create accounts %d..%d: %s: %w", start, start+len(chunk)-1, a.outcome, a.err)
		}
	}
	return nil
}

// Account reads one account: linearizable at the leader, or from any node with stale=true.
func (c *Client) Account(ctx context.Context, id string, stale bool) (ledger.AccountState, error) {
	path := "/v1/accounts/" + id
	if stale {
		path += "?stale=true"
	}
	var acc ledger.AccountState
	a := c.call(ctx, http.MethodGet, path, nil, func(code int, raw []byte) (outcome.Kind, error) {
		if code != http.StatusOK {
			return outcome.Failed, httpError(code, raw)
		}
		if err := ledger.DecodeAccountStateJSON(raw, &acc); err != nil {
			return outcome.Failed, fmt.Errorf("decode account: %w", err)
		}
		return outcome.OK, nil
	})
	if a.outcome != outcome.OK {
		return acc, fmt.Errorf("read account %s: %w", id, a.err)
	}
	return acc, nil
}

// Status reads one node's status, with its state hash when hash is true.
func (c *Client) Status(ctx context.Context, node string, hash bool) (ledger.NodeStatus, error) {
	var st ledger.NodeStatus
	if _, ok := c.cfg.Nodes[node]; !ok {
		return st, fmt.Errorf("status: unknown node %q", node)
	}
	path := "/v1/status"
	if hash {
		path += "?hash=true"
	}
	code, raw, _, err := c.once(ctx, node, http.MethodGet, path, nil)
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", node, err)
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status of %s: %w", node, httpError(code, raw))
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("decode status of %s: %w", node, err)
	}
	return st, nil
}

// APIError is a non-2xx answer from the ledger.
type APIError struct {
	Code   int
	Reason string
	Detail string
	Leader string
}

func (e *APIError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.Code, e.Reason, e.Detail)
	}
	return fmt.Sprintf("HTTP %d %s", e.Code, e.Reason)
}

func httpError(code int, raw []byte) error {
	var b ledger.ErrorBody
	_ = json.Unmarshal(raw, &b)
	if b.Error == "" {
		b.Error = http.StatusText(code)
	}
	return &APIError{Code: code, Reason: b.Error, Detail: b.Detail, Leader: b.Leader}
}

type attempt struct {
	outcome  outcome.Kind
	err      error
	attempts int
	node     string
}

// call sends one request to the leader, following not_leader answers and retrying connection errors and
// 503s with the same body, until an answer decides it, attempts run out or the deadline passes. A call
// whose request may have reached a leader without a deciding answer ends Unknown.
func (c *Client) call(ctx context.Context, method, path string, body []byte, decide func(code int, raw []byte) (outcome.Kind, error)) attempt {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Deadline)
		defer cancel()
	}
	var a attempt
	maybeApplied := false
	backoff := c.cfg.Backoff
	node := c.Leader()
	for a.attempts < c.cfg.MaxAttempts {
		a.attempts++
		a.node = node
		code, raw, sent, err := c.once(ctx, node, method, path, body)
		if err == nil && !retryable(code) {
			a.outcome, a.err = decide(code, raw)
			if code == http.StatusOK || code == http.StatusCreated {
				c.leader.Store(node)
			}
			if a.outcome == outcome.Failed && maybeApplied {
				a.outcome = outcome.Unknown
			}
			return a
		}
		next := ""
		if err != nil {
			a.err = err
			// A request that may have been sent and got no answer may have committed.
			if sent && method != http.MethodGet {
				maybeApplied = true
			}
		} else {
			apiErr := httpError(code, raw).(*APIError)
			a.err = apiErr
			// 504 (a gateway's "outcome unknown") and the ledger's outcome_unknown may have applied; 502 and
			// 503 answers (not_leader, unavailable, overloaded) were refused before anything was applied.
			if (apiErr.Reason == ledger.ErrorOutcomeUnknown || code == http.StatusGatewayTimeout) && method != http.MethodGet {
				maybeApplied = true
			}
			if _, known := c.cfg.Nodes[apiErr.Leader]; known && apiErr.Leader != node {
				next = apiErr.Leader
			}
			if apiErr.Reason == ledger.ErrorOverloaded { // the right node, too busy: back off and ask it again
				Sleep(ctx, backoff)
				backoff = min(2*backoff, 8*c.cfg.Backoff)
				next = node
			}
		}
		if next == "" {
			next = c.nextNode(node)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 8*c.cfg.Backoff)
		}
		node = next
		c.leader.Store(node)
		if ctx.Err() != nil {
			a.err = fmt.Errorf("%w (last: %v)", ctx.Err(), a.err)
			break
		}
	}
	if maybeApplied {
		a.outcome = outcome.Unknown
	} else {
		a.outcome = outcome.Failed
	}
	return a
}

// retryable reports whether an answer asks for a retry: the service is unavailable for now.
func retryable(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// Sleep waits d or until ctx ends, whichever comes first (the client's backoff; the lab's and the
// benchmarks' polling loops use it too).
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (c *Client) nextNode(cur string) string {
	i := sort.SearchStrings(c.ids, cur)
	return c.ids[(i+1)%len(c.ids)]
}

// once makes one HTTP attempt. sent reports whether the request may have reached the server.
func (c *Client) once(ctx context.Context, node, method, path string, body []byte) (code int, raw []byte, sent bool, err error) {
	limit := int64(ledger.MaxBodyBytes * 4)
	if c.pool != nil {
		deadline := time.Now().Add(c.cfg.AttemptTimeout)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		return c.pool.roundTrip(ctx, node, method, path, body, deadline, limit)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Nodes[node]+path, rd)
	if err != nil {
		return 0, nil, false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, !isDialError(err), err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return 0, nil, true, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, raw, true, nil
}

// isDialError reports whether err happened before any byte of the request could be sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
