package assertions_test

import (
	"fmt"
	"testing"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// A clean run: two committed transfers, one rejected, one resubmitted key applied once.
var (
	t1 = tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK, sent: ms(10)}
	t2 = tx{key: 2, from: 1, to: 2, amount: 50, kind: outcome.OK, sent: ms(20)}
	t3 = tx{key: 3, from: 3, to: 0, amount: 5000, kind: outcome.Rejected, reason: "insufficient_funds", sent: ms(30)}
	// t1 again: a duplicate submission of key 1, answered from the original result.
	t1dup = tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK, sent: ms(40)}
)

func cleanHistory(t *testing.T) *results.History { return history(t, t1, t2, t3, t1dup) }

func cleanReplicas() []assertions.Replica {
	return []assertions.Replica{ledger("ledger:a", t1, t2, t3), ledger("ledger:b", t1, t2, t3), ledger("ledger:c", t1, t2, t3)}
}

func TestMoneyCheckersPassOnAHealthyLedger(t *testing.T) {
	in := input(cleanHistory(t), cleanReplicas()...)
	for _, name := range []string{"no_double_deduct", "conservation", "no_negative_balance", "no_lost_ack", "replicas_converge"} {
		expect(t, mustNew(t, name, nil).Check(in), results.Pass)
	}
}

func TestNoDoubleDeductCatchesAKeyAppliedTwice(t *testing.T) {
	// A ledger that skipped its idempotency check: key 1 stored once, but its money moved twice.
	reps := cleanReplicas()
	for i := range reps {
		move(&reps[i], acc(0), -100)
		move(&reps[i], acc(1), 100)
	}
	res := mustNew(t, "no_double_deduct", nil).Check(input(cleanHistory(t), reps...))
	expect(t, res, results.Fail,
		"acc-0: balance 800, opening 1000 + journal -100 = 900 (off by -100) on every replica",
		tid(1)+" submitted 2 times (2 acknowledged)")
}

func TestNoDoubleDeductCatchesASecondLedgerEntryForOneKey(t *testing.T) {
	reps := cleanReplicas()
	reps[1].Repeated = append(reps[1].Repeated, reps[1].Transfers[tid(1)])
	res := mustNew(t, "no_double_deduct", nil).Check(input(cleanHistory(t), reps...))
	expect(t, res, results.Fail, "idempotency keys with more than one ledger entry: 1", tid(1)+": another committed entry", "on ledger:b")
}

func TestNoDoubleDeductCatchesALostUpdateByBlindWrites(t *testing.T) {
	// The naive gateway's read-check-write: payments 7 and 8 both read acc-2 at 1000 and both
	// write 990; their credits to acc-3 both land. The second debit is lost.
	h := history(t,
		tx{key: 7, from: 2, to: 3, amount: 10, kind: outcome.OK, sent: ms(10)},
		tx{key: 8, from: 2, to: 3, amount: 10, kind: outcome.OK, sent: ms(11)})
	r := ledger("ledger:a")
	blindWrite(&r, tid(7), acc(2), 990)
	blindWrite(&r, tid(8), acc(2), 990)
	blindWrite(&r, tid(7), acc(3), 1010)
	blindWrite(&r, tid(8), acc(3), 1020)
	res := mustNew(t, "no_double_deduct", nil).Check(input(h, r))
	expect(t, res, results.Fail, "acc-2: balance 990, opening 1000 + journal -20 = 980 (off by +10)")

	// conservation sees the same bug as money created, and names the payment.
	res = mustNew(t, "conservation", nil).Check(input(h, r))
	expect(t, res, results.Fail, "ledger:a: sum 4010, issued 4000 (+10)", "payment "+tid(8)+": blind writes net +10 (acc-2 990→990, acc-3 1010→1020)")
}

func TestNoDoubleDeductCatchesADuplicateBlindWrite(t *testing.T) {
	h := history(t, tx{key: 9, from: 0, to: 1, amount: 10, kind: outcome.OK, sent: ms(10)})
	r := ledger("ledger:a")
	blindWrite(&r, tid(9), acc(0), 990)
	blindWrite(&r, tid(9), acc(1), 1010)
	blindWrite(&r, tid(9), acc(0), 980) // the retried payment debits again
	res := mustNew(t, "no_double_deduct", nil).Check(input(h, r))
	expect(t, res, results.Fail, "payment "+tid(9)+": a second blind write to acc-0", "acc-0: balance 980")
}

func TestNoDoubleDeductAcceptsCorrectBlindWrites(t *testing.T) {
	// Naive mode without a race: the writes do what the payment asked, once.
	h := history(t, tx{key: 9, from: 0, to: 1, amount: 10, kind: outcome.OK, sent: ms(10)})
	r := ledger("ledger:a")
	blindWrite(&r, tid(9), acc(0), 990)
	blindWrite(&r, tid(9), acc(1), 1010)
	for _, name := range []string{"no_double_deduct", "conservation"} {
		expect(t, mustNew(t, name, nil).Check(input(h, r)), results.Pass)
	}
}

func TestConservation(t *testing.T) {
	cases := []struct {
		name   string
		breaks func(r *assertions.Replica)
		want   results.Verdict
		says   []string
	}{
		{"transfers only move money", func(*assertions.Replica) {}, results.Pass, nil},
		{"a blind write creates money", func(r *assertions.Replica) { blindWrite(r, "p-1", acc(3), 1500) },
			results.Fail, []string{"sum 4500, issued 4000 (+500)", "payment p-1: blind writes net +500"}},
		{"a blind write destroys money", func(r *assertions.Replica) { blindWrite(r, "p-2", acc(0), 0) },
			results.Fail, []string{"(-900)"}},
		{"an account is missing", func(r *assertions.Replica) { delete(r.Accounts, acc(3)) },
			results.Fail, []string{"3 accounts where the scenario opened 4"}},
		{"an account opened with another balance", func(r *assertions.Replica) {
			a := r.Accounts[acc(2)]
			a.Initial, a.Balance = 2000, a.Balance+1000
			r.Accounts[acc(2)] = a
		}, results.Fail, []string{"acc-2 opened with 2000, the scenario says 1000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ledger("ledger:a", t1, t2)
			c.breaks(&r)
			expect(t, mustNew(t, "conservation", nil).Check(input(nil, r)), c.want, c.says...)
		})
	}
}

func TestNoNegativeBalance(t *testing.T) {
	r := ledger("ledger:a", t1)
	expect(t, mustNew(t, "no_negative_balance", nil).Check(input(nil, r)), results.Pass)

	move(&r, acc(2), -1200)
	res := mustNew(t, "no_negative_balance", nil).Check(input(nil, r))
	expect(t, res, results.Fail, "acc-2: balance -200 on ledger:a", "lowest -200")
}

func TestMoneyEvidenceIsBoundedAndNamesWorstAndLast(t *testing.T) {
	r := assertions.Replica{Node: "ledger:a", Live: true, StateHash: "h", Accounts: map[string]assertions.Account{}, Transfers: map[string]assertions.Transfer{}}
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("acc-%03d", i)
		r.Accounts[id] = assertions.Account{ID: id, Balance: -int64(i + 1), Initial: opening}
	}
	in := &assertions.Input{Start: epoch, Replicas: []assertions.Replica{r}}
	res := mustNew(t, "no_negative_balance", nil).Check(in)
	expect(t, res, results.Fail, "negative balances: 100", "acc-000: balance -1", "… 90 more", "worst: acc-099: balance -100")
}

func TestMoneyCheckersAreUnknownWithoutReadableReplicas(t *testing.T) {
	down := assertions.Replica{Node: "ledger:a", Live: true, Err: fmt.Errorf("fetch export: connection refused")}
	for _, name := range []string{"no_double_deduct", "conservation", "no_negative_balance", "no_lost_ack", "replicas_converge"} {
		res := mustNew(t, name, nil).Check(input(cleanHistory(t), down))
		expect(t, res, results.Undecided, "no replica could be read", "connection refused")
	}
}

func TestAPassBecomesUnknownWhenSomeReplicaIsUnreadable(t *testing.T) {
	reps := append(cleanReplicas()[:2], assertions.Replica{Node: "ledger:c", Live: true, Err: fmt.Errorf("timeout")})
	res := mustNew(t, "conservation", nil).Check(input(nil, reps...))
	expect(t, res, results.Undecided, "1 replicas could not be read: ledger:c: timeout")
}
