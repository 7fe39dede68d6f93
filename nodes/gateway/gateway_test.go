package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
)

// testLab is a real 3-node ledger cluster in this process, a gateway in front of it on a real socket, a
// signer with the gateway's key, and a ledger client of the test's own to check balances at the source.
type testLab struct {
	t       *testing.T
	cluster *ledgertest.Cluster
	gw      *Gateway
	signer  *Signer
	http    *http.Client
	ledger  *client.Client

	mu          sync.Mutex
	transitions []BreakerTransition
}

// patience bounds every wait for something that must happen (a cluster
// starting, an election, a transfer going through). It is generous on
// purpose: the tests run in parallel, each with its own cluster, and on a busy
// machine a test must fail only when the thing never happens.
const patience = 30 * time.Second

func startLab(t *testing.T, adjust func(*Config)) *testLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	cl, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: 3})
	if err != nil {
		t.Fatalf("start ledger cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("close ledger cluster: %v", err)
		}
	})
	l := &testLab{t: t, cluster: cl, http: &http.Client{Timeout: 2 * patience}}
	cfg := DefaultConfig()
	cfg.ID, cfg.Region = "gateway:us-east/a", "us-east"
	cfg.Ledger = client.DefaultConfig(cl.URLs())
	cfg.SigningKey = testKey
	// A health probe fails on the ledger's answer, not on a starved machine's speed.
	cfg.HealthTimeout = 5 * time.Second
	cfg.OnBreakerChange = func(tr BreakerTransition) {
		l.mu.Lock()
		l.transitions = append(l.transitions, tr)
		l.mu.Unlock()
	}
	if adjust != nil {
		adjust(&cfg)
	}
	if l.gw, err = Start(cfg); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		if err := l.gw.Close(); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	})
	if l.signer, err = NewSigner(testKey); err != nil {
		t.Fatal(err)
	}
	if l.ledger, err = client.New(client.DefaultConfig(cl.URLs())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.ledger.Close)
	t.Cleanup(l.http.CloseIdleConnections)
	return l
}

// request builds a request to the gateway; sign says whether to sign it now with a fresh nonce.
func (l *testLab) request(method, path string, body []byte, sign bool) *http.Request {
	l.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, l.gw.URL()+path, rd)
	if err != nil {
		l.t.Fatal(err)
	}
	if sign {
		l.signer.Sign(req, body, time.Now(), "")
	}
	return req
}

// send sends req (its body rewound from body, so the same request can be replayed) and returns the answer.
func (l *testLab) send(req *http.Request, body []byte) (int, []byte) {
	l.t.Helper()
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, err := l.http.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatalf("read answer of %s %s: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, raw
}

// call signs and sends one request with a JSON body (nil for none).
func (l *testLab) call(method, path string, v any) (int, []byte) {
	l.t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			l.t.Fatal(err)
		}
	}
	return l.send(l.request(method, path, body, true), body)
}

// createAccount creates an account through the gateway, retrying while the gateway answers 503 or
// 504: on a busy machine an election can outlast a test's short ledger-client budget. A retry may find
// the account an earlier attempt created (the gateway answers an account creation whose outcome it
// could not learn with 503 too), which is accepted if it holds the opening balance asked for.
func (l *testLab) createAccount(id string, balance int64) {
	l.t.Helper()
	deadline := time.Now().Add(patience)
	for retried := false; ; retried = true {
		code, raw := l.call("POST", "/v1/accounts", ledger.Account{ID: id, Balance: balance})
		switch {
		case code == http.StatusCreated:
			return
		case code == http.StatusConflict && retried:
			if acc := l.balance(id); acc.Initial == balance {
				return
			}
		case code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
			if time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		l.t.Fatalf("create account %s: %d %s", id, code, raw)
	}
}

// balance reads an account at the ledger leader, not through the gateway.
func (l *testLab) balance(id string) ledger.AccountState {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	acc, err := l.ledger.Account(ctx, id, false)
	if err != nil {
		l.t.Fatalf("read %s at the ledger: %v", id, err)
	}
	return acc
}

func (l *testLab) wantBalances(want map[string]int64) {
	l.t.Helper()
	for id, b := range want {
		if got := l.balance(id).Balance; got != b {
			l.t.Errorf("ledger balance of %s = %d, want %d", id, got, b)
		}
	}
}

// metric returns the value of an unlabelled sample from /metrics, or "" when absent.
func (l *testLab) metric(name string) string {
	l.t.Helper()
	code, raw := l.send(l.request("GET", "/metrics", nil, false), nil)
	if code != http.StatusOK {
		l.t.Fatalf("GET /metrics: %d", code)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, note := cond()
		if ok {
			return
		}
		last = note
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, within, last)
		}
		<-tick.C
	}
}

func errorOf(t *testing.T, raw []byte) string {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
		t.Fatalf("answer %q is not a JSON error body", raw)
	}
	return e.Error
}

func TestSignedTransferCommitsAndItsReplayChargesNothing(t *testing.T) {
	t.Parallel()
	l := startLab(t, nil)
	l.createAccount("alice", 1000)
	l.createAccount("bob", 0)

	body, _ := json.Marshal(ledger.Transfer{ID: "t-1", From: "alice", To: "bob", Amount: 100})
	captured := l.request("POST", "/v1/transfers", body, true)
	code, raw := l.send(captured, body)
	if code != http.StatusOK {
		t.Fatalf("signed transfer: %d %s", code, raw)
	}
	var res ledger.TransferResult
	if err := json.Unmarshal(raw, &res); err != nil || res.Status != ledger.StatusCommitted || res.ID != "t-1" {
		t.Fatalf("signed transfer answer %s (%v), want committed t-1", raw, err)
	}
	l.wantBalances(map[string]int64{"alice": 900, "bob": 100})

	// The captured request, byte for byte, again: refused before it reaches the ledger.
	code, raw = l.send(captured, body)
	if code != http.StatusUnauthorized || errorOf(t, raw) != RejectReplayedNonce {
		t.Fatalf("replay: %d %s, want 401 %s", code, raw, RejectReplayedNonce)
	}
	// A replay under a new transfer id cannot be forged: the body is signed.
	forged := []byte(strings.Replace(string(body), "t-1", "t-2", 1))
	code, raw = l.send(l.request("POST", "/v1/transfers", body, true), forged)
	if code != http.StatusUnauthorized || errorOf(t, raw) != RejectBadSignature {
		t.Fatalf("forged body: %d %s, want 401 %s", code, raw, RejectBadSignature)
	}
	l.wantBalances(map[string]int64{"alice": 900, "bob": 100})

	// A legitimate retry is signed afresh and keeps the id: the ledger answers the original result.
	code, raw = l.call("POST", "/v1/transfers", ledger.Transfer{ID: "t-1", From: "alice", To: "bob", Amount: 100})
	if err := json.Unmarshal(raw, &res); code != http.StatusOK || err != nil || !res.Duplicate || res.Status != ledger.StatusCommitted {
		t.Fatalf("re-signed retry: %d %s, want 200 committed duplicate", code, raw)
	}
	// Same id, other body: 409 from the ledger, passed through.
	code, raw = l.call("POST", "/v1/transfers", ledger.Transfer{ID: "t-1", From: "alice", To: "bob", Amount: 7})
	if code != http.StatusConflict || errorOf(t, raw) != ledger.ReasonIDConflict {
		t.Fatalf("id reuse: %d %s, want 409 %s", code, raw, ledger.ReasonIDConflict)
	}
	// A business rejection is a decided answer: 200 with the ledger's body.
	code, raw = l.call("POST", "/v1/transfers", ledger.Transfer{ID: "t-3", From: "bob", To: "alice", Amount: 101})
	if err := json.Unmarshal(raw, &res); code != http.StatusOK || err != nil || res.Status != ledger.StatusRejected || res.Reason != ledger.ReasonInsufficientFunds {
		t.Fatalf("overdraft: %d %s, want 200 rejected insufficient_funds", code, raw)
	}
	l.wantBalances(map[string]int64{"alice": 900, "bob": 100})

	if got := l.metric(`paylab_gateway_signature_rejections_total{reason="replayed_nonce"}`); got != "1" {
		t.Errorf("replayed_nonce rejections metric = %q, want 1", got)
	}
	if got := l.metric("paylab_gateway_breaker_state"); got != "0" {
		t.Errorf("breaker state metric = %q, want 0 (closed): rejections are not ledger failures", got)
	}
}

func TestRefusedSignaturesChargeNothing(t *testing.T) {
	t.Parallel()
	l := startLab(t, nil)
	l.createAccount("a", 500)
	l.createAccount("b", 0)
	transfer := []byte(`{"id":"t-x","from":"a","to":"b","amount":50}`)

	cases := []struct {
		name string
		req  func() (*http.Request, []byte)
		want string
	}{
		{"unsigned", func() (*http.Request, []byte) { return l.request("POST", "/v1/transfers", transfer, false), transfer }, RejectMissingSignature},
		{"timestamp 31 s old", func() (*http.Request, []byte) {
			r := l.request("POST", "/v1/transfers", transfer, false)
			l.signer.Sign(r, transfer, time.Now().Add(-31*time.Second), "")
			return r, transfer
		}, RejectStaleTimestamp},
		// Well ahead: a request delayed on a busy machine must still arrive more than MaxSkew (30 s)
		// early. The exact boundary is TestStaleTimestampEitherWay, on fixed times.
		{"timestamp 90 s ahead", func() (*http.Request, []byte) {
			r := l.request("POST", "/v1/transfers", transfer, false)
			l.signer.Sign(r, transfer, time.Now().Add(90*time.Second), "")
			return r, transfer
		}, RejectStaleTimestamp},
		{"tampered amount", func() (*http.Request, []byte) {
			return l.request("POST", "/v1/transfers", transfer, true), []byte(`{"id":"t-x","from":"a","to":"b","amount":500}`)
		}, RejectBadSignature},
		{"tampered path", func() (*http.Request, []byte) {
			r := l.request("POST", "/v1/transfers", transfer, true)
			r.URL.Path = "/v1/accounts"
			return r, []byte(`{"id":"evil","balance":1000000}`)
		}, RejectBadSignature},
		{"wrong key", func() (*http.Request, []byte) {
			r := l.request("POST", "/v1/transfers", transfer, false)
			s, _ := NewSigner([]byte("not-the-run-key-not-the-run-key!"))
			s.Sign(r, transfer, time.Now(), "")
			return r, transfer
		}, RejectBadSignature},
		{"unsigned read", func() (*http.Request, []byte) { return l.request("GET", "/v1/accounts/a", nil, false), nil }, RejectMissingSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, body := c.req()
			code, raw := l.send(req, body)
			if code != http.StatusUnauthorized || errorOf(t, raw) != c.want {
				t.Fatalf("%d %s, want 401 %s", code, raw, c.want)
			}
		})
	}
	l.wantBalances(map[string]int64{"a": 500, "b": 0})
	if code, raw := l.call("GET", "/v1/accounts/evil", nil); code != http.StatusNotFound {
		t.Errorf("account from a tampered request: %d %s, want 404", code, raw)
	}
	// The refused transfer's id was never used: the genuine request still commits once.
	code, raw := l.call("POST", "/v1/transfers", json.RawMessage(transfer))
	if code != http.StatusOK || !strings.Contains(string(raw), `"committed"`) {
		t.Fatalf("genuine transfer after the refusals: %d %s", code, raw)
	}
	l.wantBalances(map[string]int64{"a": 450, "b": 50})
}

func TestBadInputIsRefusedWithAReasonAndChangesNothing(t *testing.T) {
	t.Parallel()
	l := startLab(t, nil)
	l.createAccount("x", 100)
	l.createAccount("y", 100)
	before := map[string]ledger.AccountState{"x": l.balance("x"), "y": l.balance("y")}

	big := `{"id":"t-big","from":"x","to":"y","amount":1,"pad":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, body string
		code                     int
		reason                   string
	}{
		{"malformed JSON", "POST", "/v1/transfers", `{"id":`, 400, "invalid_request"},
		{"unknown field", "POST", "/v1/transfers", `{"id":"t-1","from":"x","to":"y","amount":1,"memo":"hi"}`, 400, "invalid_request"},
		{"trailing data", "POST", "/v1/transfers", `{"id":"t-1","from":"x","to":"y","amount":1} {}`, 400, "invalid_request"},
		{"zero amount", "POST", "/v1/transfers", `{"id":"t-1","from":"x","to":"y","amount":0}`, 400, "invalid_request"},
		{"negative amount", "POST", "/v1/transfers", `{"id":"t-1","from":"x","to":"y","amount":-5}`, 400, "invalid_request"},
		{"amount over 10^15", "POST", "/v1/transfers", `{"id":"t-1","from":"x","to":"y","amount":1000000000000001}`, 400, "invalid_request"},
		{"id with a space", "POST", "/v1/transfers", `{"id":"t 1","from":"x","to":"y","amount":1}`, 400, "invalid_request"},
		{"id too long", "POST", "/v1/transfers", `{"id":"` + strings.Repeat("i", 65) + `","from":"x","to":"y","amount":1}`, 400, "invalid_request"},
		{"same account", "POST", "/v1/transfers", `{"id":"t-1","from":"x","to":"x","amount":1}`, 400, "invalid_request"},
		{"missing from", "POST", "/v1/transfers", `{"id":"t-1","to":"y","amount":1}`, 400, "invalid_request"},
		{"body over 1 MiB", "POST", "/v1/transfers", big, 413, "body_too_large"},
		{"account unknown field", "POST", "/v1/accounts", `{"id":"z","balance":1,"owner":"me"}`, 400, "invalid_request"},
		{"account negative balance", "POST", "/v1/accounts", `{"id":"z","balance":-1}`, 400, "invalid_request"},
		{"account bad id", "POST", "/v1/accounts", `{"id":"z/1","balance":1}`, 400, "invalid_request"},
		{"account exists", "POST", "/v1/accounts", `{"id":"x","balance":5}`, 409, "exists"},
		{"read bad id", "GET", "/v1/accounts/a%20b", "", 400, "invalid_request"},
		{"read bad stale flag", "GET", "/v1/accounts/x?stale=maybe", "", 400, "invalid_request"},
		{"read unknown account", "GET", "/v1/accounts/nobody", "", 404, "not_found"},
		{"unknown route", "GET", "/v1/transfers", "", 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			code, raw := l.send(l.request(c.method, c.path, body, true), body)
			if code != c.code || errorOf(t, raw) != c.reason {
				t.Fatalf("%d %.200s, want %d %s", code, raw, c.code, c.reason)
			}
		})
	}
	for id, b := range before {
		if got := l.balance(id); got != b {
			t.Errorf("account %s changed: %+v, was %+v", id, got, b)
		}
	}
	if code, raw := l.call("GET", "/v1/accounts/z", nil); code != http.StatusNotFound {
		t.Errorf("account z from refused creates: %d %s, want 404", code, raw)
	}
}

func TestReadsPassStaleThroughAndStatusNamesTheLeader(t *testing.T) {
	t.Parallel()
	l := startLab(t, nil)
	l.createAccount("r", 42)
	for _, path := range []string{"/v1/accounts/r", "/v1/accounts/r?stale=true"} {
		var acc ledger.AccountState
		code, raw := l.call("GET", path, nil)
		if err := json.Unmarshal(raw, &acc); code != http.StatusOK || err != nil || acc.Balance != 42 || acc.ID != "r" {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
	}
	code, raw := l.send(l.request("GET", "/v1/status", nil, false), nil)
	var st struct {
		Status
		Breaker string `json:"breaker"`
	}
	if err := json.Unmarshal(raw, &st); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/status: %d %s", code, raw)
	}
	leader := l.cluster.Leader()
	if st.ID != "gateway:us-east/a" || st.Region != "us-east" || st.Breaker != "closed" || leader == nil || st.LedgerLeader != leader.ID() {
		t.Errorf("status %s, want id, region, breaker closed and ledger leader %v", raw, leader)
	}
	code, raw = l.send(l.request("GET", "/healthz", nil, false), nil)
	if code != http.StatusOK || !strings.Contains(string(raw), `"leader":"`+leader.ID()+`"`) {
		t.Errorf("GET /healthz: %d %s, want 200 naming leader %s", code, raw, leader.ID())
	}
}

func TestUnsignedModeForRawComparisons(t *testing.T) {
	t.Parallel()
	l := startLab(t, func(c *Config) { c.RequireSignature, c.SigningKey = false, nil })
	body := []byte(`{"id":"u","balance":10}`)
	if code, raw := l.send(l.request("POST", "/v1/accounts", body, false), body); code != http.StatusCreated {
		t.Fatalf("unsigned create with signatures off: %d %s", code, raw)
	}
}

func TestLeaderKillGatewayFollowsTheNewLeader(t *testing.T) {
	t.Parallel()
	l := startLab(t, nil)
	l.createAccount("p", 1000)
	l.createAccount("q", 0)
	old := -1
	waitFor(t, patience, "a leader", func() (bool, string) { old = l.cluster.LeaderIndex(); return old >= 0, "none" })
	oldID := l.cluster.Config(old).ID
	if err := l.cluster.Crash(old); err != nil {
		t.Fatal(err)
	}
	// Keep paying through the gateway during and after the election. Every retry is re-signed and keeps its
	// transfer id, so whatever the answers were, each transfer applies exactly once.
	for i := range 5 {
		tr := ledger.Transfer{ID: fmt.Sprintf("k-%d", i), From: "p", To: "q", Amount: 10}
		waitFor(t, patience, "transfer "+tr.ID+" through the gateway", func() (bool, string) {
			code, raw := l.call("POST", "/v1/transfers", tr)
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, raw)
		})
	}
	if st := l.gw.Status(); st.LedgerLeader == oldID {
		t.Errorf("gateway still sends to the crashed leader %s", oldID)
	}
	l.wantBalances(map[string]int64{"p": 950, "q": 50})
	code, raw := l.send(l.request("GET", "/healthz", nil, false), nil)
	if code != http.StatusOK {
		t.Errorf("healthz after re-election: %d %s", code, raw)
	}
}

func TestBreakerOpensWhenTheLedgerIsGoneAndClosesWhenItReturns(t *testing.T) {
	t.Parallel()
	l := startLab(t, func(c *Config) {
		c.Breaker = BreakerConfig{FailureThreshold: 3, CoolDown: time.Second, HalfOpenProbes: 1}
		c.Ledger.AttemptTimeout, c.Ledger.MaxAttempts, c.Ledger.Deadline = 500*time.Millisecond, 3, 2*time.Second
		c.HealthTimeout, c.HealthCacheTTL = 5*time.Second, 0
	})
	l.createAccount("m", 100)
	l.createAccount("n", 0)
	for i := range l.cluster.Size() {
		if err := l.cluster.Crash(i); err != nil {
			t.Fatal(err)
		}
	}
	tr := ledger.Transfer{ID: "during-outage", From: "m", To: "n", Amount: 1}

	// Failures while the ledger is gone: 503 ledger_unavailable (or 504 if a write might have landed), until
	// the breaker opens and answers at once without trying the ledger.
	waitFor(t, patience, "breaker open", func() (bool, string) {
		code, raw := l.call("POST", "/v1/transfers", tr)
		if code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			t.Fatalf("transfer with the ledger down: %d %s, want 503 or 504", code, raw)
		}
		return strings.Contains(string(raw), ErrBreakerOpen.Error()), string(raw)
	})
	if got := l.metric("paylab_gateway_breaker_state"); got != "2" {
		t.Errorf("breaker state metric = %q, want 2 (open)", got)
	}
	// The open breaker answers without trying the ledger: its own error says so (how fast that is
	// is the machine's speed).
	code, raw := l.call("POST", "/v1/transfers", tr)
	if code != http.StatusServiceUnavailable || errorOf(t, raw) != ErrorLedgerUnavailable || !strings.Contains(string(raw), ErrBreakerOpen.Error()) {
		t.Errorf("transfer with the breaker open: %d %s, want 503 %s from the breaker", code, raw, ErrorLedgerUnavailable)
	}
	code, raw = l.send(l.request("GET", "/healthz", nil, false), nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), "no ledger leader reachable") {
		t.Errorf("healthz with the ledger down: %d %s, want 503 with a reason", code, raw)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	for i := range l.cluster.Size() {
		if _, err := l.cluster.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.cluster.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, patience, "healthz 200 after the ledger returns", func() (bool, string) {
		code, raw := l.send(l.request("GET", "/healthz", nil, false), nil)
		return code == http.StatusOK, string(raw)
	})
	waitFor(t, patience, "transfer through after the ledger returns", func() (bool, string) {
		code, raw := l.call("POST", "/v1/transfers", tr)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, raw)
	})
	if s := l.gw.BreakerState(); s != BreakerClosed {
		t.Errorf("breaker after a good probe = %v, want closed", s)
	}
	if got := l.metric("paylab_gateway_breaker_state"); got != "0" {
		t.Errorf("breaker state metric = %q, want 0 (closed)", got)
	}
	l.wantBalances(map[string]int64{"m": 99, "n": 1})

	l.mu.Lock()
	defer l.mu.Unlock()
	var path []string
	for _, tr := range l.transitions {
		path = append(path, tr.To.String())
	}
	got := strings.Join(path, ",")
	if !strings.HasPrefix(got, "open,half-open") || !strings.HasSuffix(got, "half-open,closed") {
		t.Errorf("breaker transitions %s, want open,half-open,…,half-open,closed", got)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	good := DefaultConfig()
	good.ID, good.Region, good.SigningKey = "g1", "eu-west", testKey
	good.Ledger = client.DefaultConfig(map[string]string{"n1": "http://127.0.0.1:1"})
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := []struct {
		name   string
		change func(*Config)
		field  string
	}{
		{"public address", func(c *Config) { c.Addr = "0.0.0.0:8080" }, "Addr"},
		{"LAN address", func(c *Config) { c.Addr = "10.0.0.1:80" }, "Addr"},
		{"host name", func(c *Config) { c.Addr = "localhost:80" }, "Addr"},
		{"IPv6", func(c *Config) { c.Addr = "[::1]:80" }, "Addr"},
		{"no port", func(c *Config) { c.Addr = "127.0.0.1" }, "Addr"},
		{"no id", func(c *Config) { c.ID = "" }, "ID"},
		{"region with a space", func(c *Config) { c.Region = "us east" }, "Region"},
		{"no ledger nodes", func(c *Config) { c.Ledger.Nodes = nil }, "Ledger"},
		{"short key", func(c *Config) { c.SigningKey = []byte("k") }, "SigningKey"},
		{"skew zero", func(c *Config) { c.MaxSkew = 0 }, "MaxSkew"},
		{"unbounded nonces", func(c *Config) { c.MaxNonces = 0 }, "MaxNonces"},
		{"breaker threshold", func(c *Config) { c.Breaker.FailureThreshold = 0 }, "FailureThreshold"},
		{"in flight", func(c *Config) { c.MaxInFlight = 0 }, "MaxInFlight"},
		{"naive cache not yet", func(c *Config) { c.Cache = ModeNaive }, "Cache"},
		{"naive lock not yet", func(c *Config) { c.Lock = ModeNaive }, "Lock"},
		{"unknown mode", func(c *Config) { c.Lock = "yolo" }, "Lock"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, c.field)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:0", "127.0.1.7:0", "127.255.255.254:9000"} {
		cfg := good
		cfg.Addr = addr
		if err := cfg.Validate(); err != nil {
			t.Errorf("Addr %s: %v", addr, err)
		}
	}
}

func TestGatewayListensOnARegionEntryAddress(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID, cfg.Region, cfg.SigningKey = "g-eu", "eu-west", testKey
	cfg.Ledger = client.DefaultConfig(map[string]string{"n1": "http://127.0.0.1:1"})
	cfg.Addr = "127.0.1.9:0"
	g, err := Start(cfg)
	if err != nil {
		t.Fatalf("start on 127.0.1.9: %v", err)
	}
	defer g.Close()
	if !strings.HasPrefix(g.Addr(), "127.0.1.9:") {
		t.Fatalf("Addr() = %s, want 127.0.1.9:port", g.Addr())
	}
	resp, err := http.Get(g.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	// Nothing listens on the one ledger address: unhealthy, and the answer says why.
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "n1:") {
		t.Errorf("healthz with no ledger: %d %s, want 503 naming n1", resp.StatusCode, raw)
	}
}

// TestCrashCutsRequestsInFlightAndTheAddressServesAgain: Crash does not wait for a request in flight (its
// ledger call is cancelled and its connection closed), the port refuses at once, and a gateway started
// again on the same address serves.
func TestCrashCutsRequestsInFlightAndTheAddressServesAgain(t *testing.T) {
	t.Parallel()
	arrived, cancelled := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ledgerStandIn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/accounts/") {
			http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
			return
		}
		once.Do(func() { close(arrived) })
		<-r.Context().Done() // holds the read until the gateway gives up on it
		select {
		case <-cancelled:
		default:
			close(cancelled)
		}
	}))
	defer ledgerStandIn.Close()
	cfg := DefaultConfig()
	cfg.ID, cfg.Region, cfg.RequireSignature = "g-crash", "us-east", false
	cfg.Ledger = client.DefaultConfig(map[string]string{"n1": ledgerStandIn.URL})
	cfg.Ledger.AttemptTimeout, cfg.Ledger.Deadline = time.Hour, time.Hour // only the crash may end the read
	g, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Get(g.URL() + "/v1/accounts/acc-1?stale=true")
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %s", resp.Status)
		}
		answered <- err
	}()
	<-arrived
	if err := g.Crash(); err != nil {
		t.Fatal(err)
	}
	<-cancelled
	if err := <-answered; err == nil || strings.HasPrefix(err.Error(), "answered") {
		t.Fatalf("the request in flight at the crash: %v, want its connection closed without an answer", err)
	}
	if c, err := net.Dial("tcp", g.Addr()); err == nil {
		c.Close()
		t.Fatal("the crashed gateway's port accepts connections")
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close after Crash: %v", err)
	}
	cfg.Addr = g.Addr()
	again, err := Start(cfg)
	if err != nil {
		t.Fatalf("start again on %s: %v", cfg.Addr, err)
	}
	defer again.Close()
	resp, err := http.Get(again.URL() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after the restart: %s", resp.Status)
	}
}
