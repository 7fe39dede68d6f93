package assertions_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// epoch is the synthetic run's time base: every time in these tests is an explicit offset.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	opening  = 1000 // each account's opening balance
	accounts = 4    // acc-0 … acc-3
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// tx is a transfer submission in a synthetic history.
type tx struct {
	key        uint64
	from, to   uint32
	amount     int64
	kind       outcome.Kind
	reason     string
	sent, done time.Duration
	client     uint16
	read       bool // a linearizable read of account from, seeing amount
	typ        results.OpType
}

func history(t *testing.T, ops ...tx) *results.History {
	t.Helper()
	h := results.NewHistory(epoch, 1<<16)
	for i, o := range ops {
		typ := results.OpTransfer
		if o.read {
			typ = results.OpRead
		}
		if o.typ != 0 {
			typ = o.typ
		}
		done := o.done
		if done == 0 {
			done = o.sent + ms(5)
		}
		h.Add(results.Op{
			OpDetail: results.OpDetail{Type: typ, Key: o.key, From: o.from, To: o.to, Amount: o.amount},
			Seq:      uint64(i), Intended: o.sent, Sent: o.sent, Done: done, Items: 1, Client: o.client, Kind: o.kind,
		}, o.reason)
	}
	return h
}

func tid(key uint64) string { return fmt.Sprintf("t%016x", key) }
func acc(i int) string      { return fmt.Sprintf("acc-%d", i) }

// ledger builds a replica that applied the given committed transfers correctly, the way a
// healthy ledger would export it. Tests then break it on purpose.
func ledger(node string, committed ...tx) assertions.Replica {
	r := assertions.Replica{Node: node, Live: true, AppliedIndex: uint64(len(committed) + accounts), StateHash: "h-good",
		Accounts: map[string]assertions.Account{}, Transfers: map[string]assertions.Transfer{}}
	for i := 0; i < accounts; i++ {
		r.Accounts[acc(i)] = assertions.Account{ID: acc(i), Balance: opening, Initial: opening}
	}
	for i, c := range committed {
		status := assertions.StatusCommitted
		if c.kind == outcome.Rejected {
			status = assertions.StatusRejected
		}
		r.Transfers[tid(c.key)] = assertions.Transfer{ID: tid(c.key), From: acc(int(c.from)), To: acc(int(c.to)), Amount: c.amount,
			Status: status, Reason: c.reason, Index: uint64(accounts + i + 1)}
		if status == assertions.StatusCommitted {
			move(&r, acc(int(c.from)), -c.amount)
			move(&r, acc(int(c.to)), c.amount)
		}
	}
	return r
}

func move(r *assertions.Replica, id string, delta int64) {
	a := r.Accounts[id]
	a.Balance += delta
	a.Version++
	r.Accounts[id] = a
}

// blindWrite records a balance write for payment on account, as the naive gateway makes it.
func blindWrite(r *assertions.Replica, payment, account string, newBalance int64) {
	a := r.Accounts[account]
	r.Writes = append(r.Writes, assertions.Write{Payment: payment, Account: account, Old: a.Balance, New: newBalance, Index: uint64(100 + len(r.Writes))})
	a.Balance = newBalance
	a.Version++
	r.Accounts[account] = a
}

func input(h *results.History, replicas ...assertions.Replica) *assertions.Input {
	return &assertions.Input{Start: epoch, Accounts: assertions.Accounts{Count: accounts, Balance: opening}, History: h, Replicas: replicas}
}

func mustNew(t testing.TB, name string, params map[string]any) assertions.Checker {
	t.Helper()
	c, err := assertions.New(name, params)
	if err != nil {
		t.Fatalf("New(%q, %v): %v", name, params, err)
	}
	return c
}

// expect checks a result's verdict and that its evidence (or error) mentions every fragment.
func expect(t *testing.T, res results.AssertionResult, want results.Verdict, fragments ...string) {
	t.Helper()
	text := res.Phase + "\n" + res.Observed + "\n" + res.Error + "\n" + strings.Join(res.Evidence, "\n")
	if res.Verdict != want {
		t.Fatalf("%s: verdict %s, want %s\n%s", res.Name, res.Verdict, want, text)
	}
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			t.Errorf("%s: result does not mention %q:\n%s", res.Name, f, text)
		}
	}
	if len(res.Evidence) > 4*assertions.MaxEvidence {
		t.Errorf("%s: %d evidence lines, evidence must stay bounded", res.Name, len(res.Evidence))
	}
}
