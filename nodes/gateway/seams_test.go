package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"paylab/nodes/ledger"
)

// heldLocks is an AccountLocker whose Lock blocks until the test lets go, so a request stays in flight.
type heldLocks struct {
	entered chan string
	release chan struct{}
}

func (h *heldLocks) Lock(ctx context.Context, account string) (Lease, error) {
	h.entered <- account
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return noLease{}, nil
}

func TestInFlightBoundAnswersOverloadedAtOnce(t *testing.T) {
	t.Parallel()
	locks := &heldLocks{entered: make(chan string, 1), release: make(chan struct{})}
	l := startLab(t, func(c *Config) { c.MaxInFlight, c.Locks = 1, locks })
	l.createAccount("s", 10)
	l.createAccount("d", 0)

	var wg sync.WaitGroup
	wg.Add(1)
	var firstCode int
	go func() {
		defer wg.Done()
		firstCode, _ = l.call("POST", "/v1/transfers", ledger.Transfer{ID: "held", From: "s", To: "d", Amount: 1})
	}()
	select {
	case <-locks.entered:
	case <-time.After(patience):
		t.Fatal("the first transfer never reached the account lock")
	}
	code, raw := l.call("POST", "/v1/transfers", ledger.Transfer{ID: "second", From: "s", To: "d", Amount: 1})
	if code != http.StatusServiceUnavailable || errorOf(t, raw) != ErrorOverloaded {
		t.Errorf("second transfer while one is in flight with MaxInFlight 1: %d %s, want 503 %s", code, raw, ErrorOverloaded)
	}
	close(locks.release)
	wg.Wait()
	if firstCode != http.StatusOK {
		t.Errorf("held transfer: %d, want 200 once released", firstCode)
	}
	l.wantBalances(map[string]int64{"s": 9, "d": 1})
}

// memoryIdempotency is an IdempotencyCache in a map: what the Redis issue's safe mode will do, minus Redis.
type memoryIdempotency struct {
	mu sync.Mutex
	m  map[string]struct {
		t   ledger.Transfer
		res ledger.TransferResult
	}
}

func (c *memoryIdempotency) Get(_ context.Context, id string) (ledger.Transfer, ledger.TransferResult, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e.t, e.res, ok, nil
}

func (c *memoryIdempotency) Put(_ context.Context, t ledger.Transfer, res ledger.TransferResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[t.ID] = struct {
		t   ledger.Transfer
		res ledger.TransferResult
	}{t, res}
	return nil
}

func TestIdempotencyCacheSeamAnswersResubmissionsLikeTheLedger(t *testing.T) {
	t.Parallel()
	cache := &memoryIdempotency{m: map[string]struct {
		t   ledger.Transfer
		res ledger.TransferResult
	}{}}
	l := startLab(t, func(c *Config) { c.Idempotency = cache })
	l.createAccount("i1", 10)
	l.createAccount("i2", 0)
	tr := ledger.Transfer{ID: "once", From: "i1", To: "i2", Amount: 4}
	var first, again ledger.TransferResult
	if code, raw := l.call("POST", "/v1/transfers", tr); code != http.StatusOK || json.Unmarshal(raw, &first) != nil {
		t.Fatalf("transfer: %d %s", code, raw)
	}
	if _, res, ok, _ := cache.Get(context.Background(), "once"); !ok || res.Status != ledger.StatusCommitted {
		t.Fatalf("cache after a committed transfer: %+v %v, want the committed result", res, ok)
	}
	if code, raw := l.call("POST", "/v1/transfers", tr); code != http.StatusOK || json.Unmarshal(raw, &again) != nil || !again.Duplicate || again.Index != first.Index {
		t.Fatalf("resubmission: %d %s, want the original result marked duplicate", code, raw)
	}
	tr.Amount = 5
	if code, raw := l.call("POST", "/v1/transfers", tr); code != http.StatusConflict || errorOf(t, raw) != ledger.ReasonIDConflict {
		t.Fatalf("same id, other body: %d %s, want 409 %s", code, raw, ledger.ReasonIDConflict)
	}
	l.wantBalances(map[string]int64{"i1": 6, "i2": 4})
}

func TestCloseCancelsAndWaitsForRequestsStillInFlight(t *testing.T) {
	t.Parallel()
	locks := &heldLocks{entered: make(chan string, 1), release: make(chan struct{})}
	l := startLab(t, func(c *Config) { c.Locks = locks })
	l.createAccount("c1", 10)
	l.createAccount("c2", 0)
	done := make(chan error, 1)
	go func() {
		body := []byte(`{"id":"stuck","from":"c1","to":"c2","amount":1}`)
		resp, err := l.http.Do(l.request("POST", "/v1/transfers", body, true))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-locks.entered:
	case <-time.After(patience):
		t.Fatal("the transfer never reached the account lock")
	}
	// The lock is never released: without its cancel after the grace period, Close would wait
	// forever. That it returns at all is the claim; how soon is the grace period plus the machine.
	closed := make(chan error, 1)
	go func() { closed <- l.gw.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(patience):
		t.Fatalf("Close still waiting after %v with a stuck request: the grace period must end in a cancel", patience)
	}
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("the stuck request had not ended after Close returned")
	}
	if got := len(l.gw.inFlight); got != cap(l.gw.inFlight) {
		t.Errorf("in-flight slots after Close = %d, want all %d taken (no handler left)", got, cap(l.gw.inFlight))
	}
	l.wantBalances(map[string]int64{"c1": 10, "c2": 0})
}
