package assertions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/nodes/gateway"
	payledger "paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
	"paylab/outcome"
	"paylab/results"
)

// mutantPatience bounds every wait on the real cluster (start, a payment, an export); a test fails
// only when the thing never happens, not when the machine is slow.
const mutantPatience = 30 * time.Second

// mutantLab is a real one-node ledger (raft, bbolt, TCP on loopback) behind a real gateway, with a
// history the test records as a load generator would: the payment key (Op.Key) the client used,
// the body, and the outcome the client was told.
type mutantLab struct {
	t       *testing.T
	ctx     context.Context
	cluster *ledgertest.Cluster
	gw      *gateway.Gateway
	ledger  *client.Client
	http    *http.Client
	hist    *results.History
	seq     uint64
}

func startMutantLab(t *testing.T, lb payledger.Broken, gb gateway.Broken) *mutantLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*mutantPatience)
	t.Cleanup(cancel)
	cl, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: 1, Configure: func(_ int, c *payledger.Config) { c.Broken = lb }})
	if err != nil {
		t.Fatalf("start ledger: %v", err)
	}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("close ledger: %v", err)
		}
	})
	cfg := gateway.DefaultConfig()
	cfg.ID, cfg.Region = "gateway:test/a", "test"
	cfg.Ledger = client.DefaultConfig(cl.URLs())
	cfg.RequireSignature = false
	cfg.Broken = gb
	gw, err := gateway.Start(cfg)
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		if err := gw.Close(); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	})
	lc, err := client.New(client.DefaultConfig(cl.URLs()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.Close)
	l := &mutantLab{t: t, ctx: ctx, cluster: cl, gw: gw, ledger: lc, http: &http.Client{Timeout: mutantPatience},
		hist: results.NewHistory(epoch, 1<<10)}
	t.Cleanup(l.http.CloseIdleConnections)
	as := make([]payledger.Account, accounts)
	for i := range as {
		as[i] = payledger.Account{ID: acc(i), Balance: opening}
	}
	if err := lc.CreateAccounts(ctx, as); err != nil {
		t.Fatalf("create accounts: %v", err)
	}
	return l
}

// record adds one operation to the history with the outcome the client saw.
func (l *mutantLab) record(key uint64, from, to uint32, amount int64, kind outcome.Kind, reason string) {
	l.seq++
	at := time.Duration(l.seq) * time.Millisecond
	l.hist.Add(results.Op{OpDetail: results.OpDetail{Type: results.OpTransfer, Key: key, From: from, To: to, Amount: amount},
		Seq: l.seq, Intended: at, Sent: at, Done: at + time.Millisecond, Items: 1, Kind: kind}, reason)
}

// pay sends payment key through the gateway, as a client does (a retry is the same call again),
// and records what the client was told.
func (l *mutantLab) pay(key uint64, from, to uint32, amount int64) {
	l.t.Helper()
	body, _ := json.Marshal(payledger.Transfer{ID: tid(key), From: acc(int(from)), To: acc(int(to)), Amount: amount})
	resp, err := l.http.Post(l.gw.URL()+"/v1/transfers", "application/json", bytes.NewReader(body))
	if err != nil {
		l.t.Fatalf("pay %s: %v", tid(key), err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res payledger.TransferResult
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &res) != nil {
		l.t.Fatalf("pay %s: %d %s", tid(key), resp.StatusCode, raw)
	}
	kind := outcome.OK
	if res.Status != payledger.StatusCommitted {
		kind = outcome.Rejected
	}
	l.record(key, from, to, amount, kind, res.Reason)
}

// naivePay moves amount from one account to another by blind balance writes, as the naive lock
// mode's read-check-write does; reads are taken by read (so a test can take them early, racing).
type naiveRead struct {
	account string
	state   payledger.AccountState
}

func (l *mutantLab) read(account int) naiveRead {
	l.t.Helper()
	a, err := l.ledger.Account(l.ctx, acc(account), false)
	if err != nil {
		l.t.Fatalf("read %s: %v", acc(account), err)
	}
	return naiveRead{account: acc(account), state: a}
}

func (l *mutantLab) blindWrite(payment string, r naiveRead, balance int64) {
	l.t.Helper()
	body := fmt.Sprintf(`{"balance":%d,"payment":%q,"read_balance":%d,"read_version":%d}`, balance, payment, r.state.Balance, r.state.Version)
	req, err := http.NewRequestWithContext(l.ctx, http.MethodPut, l.cluster.URLs()["n1"]+"/v1/accounts/"+r.account+"/balance", bytes.NewReader([]byte(body)))
	if err != nil {
		l.t.Fatal(err)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		l.t.Fatalf("blind write %s: %v", r.account, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		l.t.Fatalf("blind write %s: %d %s", r.account, resp.StatusCode, raw)
	}
}

// input exports the ledger node and returns what the checkers judge.
func (l *mutantLab) input() *assertions.Input {
	l.t.Helper()
	req, err := http.NewRequestWithContext(l.ctx, http.MethodGet, l.cluster.URLs()["n1"]+"/v1/export", nil)
	if err != nil {
		l.t.Fatal(err)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		l.t.Fatalf("export: %v", err)
	}
	defer resp.Body.Close()
	r, err := assertions.ReadReplica(resp.Body)
	if err != nil {
		l.t.Fatalf("read export: %v", err)
	}
	r.Live = true
	return &assertions.Input{Start: epoch, Accounts: assertions.Accounts{Count: accounts, Balance: opening}, History: l.hist, Replicas: []assertions.Replica{r}}
}

// TestPaymentMutantsAreCaught switches on each payment bug in a real ledger and gateway (the
// test-only switches ledger.Broken and gateway.Broken, or a racing naive writer), runs the same
// payments clean and broken, and requires the clean run to pass every money checker and the
// broken one to fail at least the named assertion with evidence naming the ids. A mutant that
// goes uncaught fails the test.
func TestPaymentMutantsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real ledgers and gateways")
	}
	cases := []struct {
		name   string
		ledger payledger.Broken
		gw     gateway.Broken
		drive  func(l *mutantLab, mutant bool)
		check  string
		says   []string
	}{
		{name: "gateway reissues a new ledger id on retry", gw: gateway.Broken{NewLedgerIDOnRetry: true},
			drive: func(l *mutantLab, _ bool) {
				l.pay(1, 0, 1, 100)
				l.pay(1, 0, 1, 100) // the client's retry (its first answer was lost)
				l.pay(2, 2, 3, 50)
			},
			check: "no_double_deduct",
			says:  []string{"payment " + tid(1) + ": 2 committed entries: ", "payment " + tid(1) + ")", "the history asked for acc-0→acc-1 100 once (2 submissions)"}},
		{name: "commit a different amount", ledger: payledger.Broken{CommitOtherAmount: true},
			drive: func(l *mutantLab, _ bool) { l.pay(1, 0, 1, 100) },
			check: "no_lost_ack",
			says:  []string{"acknowledged committed, but committed with another body: 1", tid(1) + " acknowledged acc-0→acc-1 100", tid(1) + " (acc-0→acc-1 101, index"}},
		{name: "commit a different amount (journal)", ledger: payledger.Broken{CommitOtherAmount: true},
			drive: func(l *mutantLab, _ bool) { l.pay(1, 0, 1, 100) },
			check: "no_double_deduct",
			says:  []string{tid(1) + " committed acc-0→acc-1 101 at index", "payment " + tid(1) + " asked for acc-0→acc-1 100"}},
		{name: "acknowledge rejected but commit", gw: gateway.Broken{AckRejectedButCommit: true},
			drive: func(l *mutantLab, _ bool) { l.pay(1, 0, 1, 100) },
			check: "no_lost_ack",
			says:  []string{"acknowledged rejected or definitely failed, yet committed: 1", tid(1) + " (acc-0→acc-1 100) rejected (insufficient_funds)", "committed on n1 as " + tid(1)}},
		{name: "allow a negative balance", ledger: payledger.Broken{AllowNegative: true},
			drive: func(l *mutantLab, _ bool) {
				l.pay(1, 0, 1, opening/2)
				l.pay(2, 0, 1, opening) // more than is left: rejected (insufficient funds) unless broken
			},
			check: "no_negative_balance",
			says:  []string{acc(0) + ": balance " + fmt.Sprint(opening/2-opening)}},
		{name: "lost update through the blind write",
			drive: func(l *mutantLab, mutant bool) {
				// Payments 7 and 8, acc-2→acc-3 10 each, by read-check-write. Clean: one after
				// the other. Mutant: both read before either writes (no lock).
				p7, p8 := tid(7), tid(8)
				from7, to7 := l.read(2), l.read(3)
				var from8, to8 naiveRead
				if mutant {
					from8, to8 = l.read(2), l.read(3)
				}
				l.blindWrite(p7, from7, from7.state.Balance-10)
				l.blindWrite(p7, to7, to7.state.Balance+10)
				if !mutant {
					from8, to8 = l.read(2), l.read(3)
				}
				l.blindWrite(p8, from8, from8.state.Balance-10)
				l.blindWrite(p8, to8, to8.state.Balance+10)
				l.record(7, 2, 3, 10, outcome.OK, "")
				l.record(8, 2, 3, 10, outcome.OK, "")
			},
			check: "no_double_deduct",
			says:  []string{"blind writes over a balance the writer had not read (lost updates): 2", "payment " + tid(8) + ": blind write of acc-2 to 990 at index", "read version 0 (balance 1000) but overwrote version 1 (balance 990)"}},
	}
	money := []string{"no_double_deduct", "conservation", "no_negative_balance", "no_lost_ack"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clean := startMutantLab(t, payledger.Broken{}, gateway.Broken{})
			c.drive(clean, false)
			in := clean.input()
			for _, name := range money {
				expect(t, mustNew(t, name, nil).Check(in), results.Pass)
			}
			broken := startMutantLab(t, c.ledger, c.gw)
			c.drive(broken, true)
			expect(t, mustNew(t, c.check, nil).Check(broken.input()), results.Fail, c.says...)
		})
	}
}
