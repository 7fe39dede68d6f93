package assertions_test

import (
	"testing"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// Behaviours 1–5 of issue 10, "What slipped through": hand-made histories and exports that
// contain real payment bugs, each with the verdict a payments engineer expects.

// entry adds a ledger entry to r under ledger id id serving payment key payment, moving the
// money when committed.
func entry(r *assertions.Replica, id, payment string, from, to int, amount int64, status string, index uint64) {
	t := assertions.Transfer{ID: id, From: acc(from), To: acc(to), Amount: amount, Status: status, Index: index}
	if payment != id {
		t.Payment = payment
	}
	if status == assertions.StatusRejected {
		t.Reason = "insufficient_funds"
	}
	r.Transfers[id] = t
	if status == assertions.StatusCommitted {
		move(r, acc(from), -amount)
		move(r, acc(to), amount)
	}
}

// blindWriteRead records a blind write whose writer read readBalance at readVersion.
func blindWriteRead(r *assertions.Replica, payment, account string, newBalance, readBalance int64, readVersion uint64) {
	a := r.Accounts[account]
	old := a.Version
	r.Writes = append(r.Writes, assertions.Write{Payment: payment, Account: account, Old: a.Balance, New: newBalance,
		Index: uint64(100 + len(r.Writes)), OldVersion: &old, ReadBalance: &readBalance, ReadVersion: &readVersion})
	a.Balance = newBalance
	a.Version++
	r.Accounts[account] = a
}

func TestRetryChargedTwiceUnderANewLedgerID(t *testing.T) {
	// The first attempt timed out at the client; the gateway sent the retry to the ledger
	// under a new id. Both committed: acc-0 paid twice.
	first := tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.Unknown, sent: ms(10), done: ms(510)}
	retry := tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK, sent: ms(520)}
	h := history(t, first, retry)
	r := ledger("ledger:a")
	entry(&r, tid(1), tid(1), 0, 1, 100, assertions.StatusCommitted, 5)
	entry(&r, "01JRETRY0000000000000000AA", tid(1), 0, 1, 100, assertions.StatusCommitted, 6)
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(h, r)), results.Fail,
		"payment keys with more than one committed ledger entry (charged more than once): 1",
		"payment "+tid(1)+": 2 committed entries: "+tid(1)+" (acc-0→acc-1 100, index 5), 01JRETRY0000000000000000AA (acc-0→acc-1 100, index 6, payment "+tid(1)+")",
		"the history asked for acc-0→acc-1 100 once (2 submissions)")
	// Money only moved, and the acknowledged payment is there: the other checkers cannot see it.
	for _, name := range []string{"conservation", "no_lost_ack"} {
		expect(t, mustNew(t, name, nil).Check(input(h, r)), results.Pass)
	}

	// One entry under another ledger id that serves the payment is not a bug.
	ok := ledger("ledger:a")
	entry(&ok, "01JRETRY0000000000000000AA", tid(1), 0, 1, 100, assertions.StatusCommitted, 6)
	for _, name := range []string{"no_double_deduct", "no_lost_ack"} {
		expect(t, mustNew(t, name, nil).Check(input(h, ok)), results.Pass)
	}
}

func TestWrongBodyCommitted(t *testing.T) {
	// Acknowledged acc-0→acc-1 100; the ledger committed acc-1→acc-0 1000 under that id.
	h := history(t, tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK, sent: ms(10)})
	r := ledger("ledger:a")
	entry(&r, tid(1), tid(1), 1, 0, 1000, assertions.StatusCommitted, 5)
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(h, r)), results.Fail,
		"acknowledged committed, but committed with another body: 1",
		tid(1)+" acknowledged acc-0→acc-1 100 by op 0", "committed ledger:a: "+tid(1)+" (acc-1→acc-0 1000, index 5)")
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(h, r)), results.Fail,
		tid(1)+" committed acc-1→acc-0 1000 at index 5; payment "+tid(1)+" asked for acc-0→acc-1 100")
}

func TestRejectedToTheClientCommittedLaterUnderAnotherID(t *testing.T) {
	// The client was told "rejected"; the ledger rejected the first id, then committed the
	// payment under another id.
	h := history(t, tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.Rejected, reason: "insufficient_funds", sent: ms(10)})
	r := ledger("ledger:a")
	entry(&r, tid(1), tid(1), 0, 1, 100, assertions.StatusRejected, 5)
	entry(&r, "01JLATER0000000000000000AA", tid(1), 0, 1, 100, assertions.StatusCommitted, 9)
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(h, r)), results.Fail,
		"acknowledged rejected or definitely failed, yet committed: 1",
		tid(1)+" (acc-0→acc-1 100) rejected (insufficient_funds) by op 0",
		"committed on ledger:a as 01JLATER0000000000000000AA (acc-0→acc-1 100, index 9, payment "+tid(1)+")")
}

func TestOrphans(t *testing.T) {
	// Two committed entries nobody asked for, next to one payment the history knows.
	ask := tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK, sent: ms(10)}
	r := ledger("ledger:a", ask)
	entry(&r, tid(50), tid(50), 2, 3, 10, assertions.StatusCommitted, 20)
	entry(&r, tid(51), tid(51), 3, 2, 7, assertions.StatusCommitted, 21)
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(history(t, ask), r)), results.Fail,
		"committed entries no history payment asked for (orphans): 2",
		tid(50)+" (acc-2→acc-3 10, index 20): committed, no history payment "+tid(50),
		tid(51)+" (acc-3→acc-2 7, index 21)")

	// When the history dropped operations past its bound, an orphan may be an unrecorded
	// payment: unknown, naming them — never a pass.
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(truncated(t, 5, ask), r)), results.Undecided,
		"2 committed entries could not be held against the history: the history dropped 5 operations",
		"committed entries the history does not show (it may not have kept their payments): 2", tid(50), tid(51))

	// Nor when the history holds batches it does not itemize: the entries may be theirs.
	batch := tx{key: 60, from: 2, to: 3, amount: 10, kind: outcome.OK, sent: ms(30), typ: results.OpBatch}
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(history(t, ask, batch), r)), results.Undecided,
		"the history holds 1 batch or generic operations", tid(50))

	// An empty history (every operation dropped) cannot vouch for any entry either.
	empty := ledger("ledger:a")
	entry(&empty, tid(50), tid(50), 2, 3, 10, assertions.StatusCommitted, 20)
	entry(&empty, tid(51), tid(51), 3, 2, 7, assertions.StatusCommitted, 21)
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(results.NewHistory(epoch, 16), empty)), results.Undecided, tid(50), tid(51))
	// Issue 10's case: an empty history plus two unrequested commits passed no_lost_ack and
	// linearizable. No checker of the run may pass it now.
	var checkers []assertions.Checker
	for _, name := range []string{"no_double_deduct", "no_lost_ack", "linearizable"} {
		checkers = append(checkers, mustNew(t, name, nil))
	}
	got, verdict := assertions.CheckAll(input(results.NewHistory(epoch, 16), empty), checkers)
	for _, res := range got {
		if res.Verdict == results.Pass {
			t.Errorf("%s passed an empty history with two orphans: %s", res.Name, res.Observed)
		}
	}
	if verdict != results.Undecided {
		t.Errorf("run verdict %s, want unknown", verdict)
	}
}

func TestLostUpdateThroughABlindWriteWhenTheHistoryDroppedThePayments(t *testing.T) {
	// Payments 7 and 8 (acc-2→acc-3 10 each) both read acc-2 at 1000 (version 0) and wrote
	// 990; the second overwrote a version it had not read. The history hit its bound before
	// either payment, so only the journal can tell.
	h := truncated(t, 2, tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK, sent: ms(10)})
	r := ledger("ledger:a", tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK})
	blindWriteRead(&r, tid(7), acc(2), 990, 1000, 0)
	blindWriteRead(&r, tid(7), acc(3), 1010, 1000, 0)
	blindWriteRead(&r, tid(8), acc(2), 990, 1000, 0) // stale: acc-2 is at version 1 now
	blindWriteRead(&r, tid(8), acc(3), 1020, 1010, 1)
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(h, r)), results.Fail,
		"blind writes over a balance the writer had not read (lost updates): 1",
		"payment "+tid(8)+": blind write of acc-2 to 990 at index 102 read version 0 (balance 1000) but overwrote version 1 (balance 990)")

	// The same race journalled without what the writers read stays unknown, as before.
	old := ledger("ledger:a", tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK})
	blindWrite(&old, tid(7), acc(2), 990)
	blindWrite(&old, tid(7), acc(3), 1010)
	blindWrite(&old, tid(8), acc(2), 990)
	blindWrite(&old, tid(8), acc(3), 1020)
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(h, old)), results.Undecided, "could not be held against the history")

	// Correct writes that said what they read pass, even with the payments missing from the history.
	good := ledger("ledger:a", tx{key: 1, from: 0, to: 1, amount: 100, kind: outcome.OK})
	blindWriteRead(&good, tid(7), acc(2), 990, 1000, 0)
	blindWriteRead(&good, tid(7), acc(3), 1010, 1000, 0)
	blindWriteRead(&good, tid(8), acc(2), 980, 990, 1)
	blindWriteRead(&good, tid(8), acc(3), 1020, 1010, 1)
	expect(t, mustNew(t, "no_double_deduct", nil).Check(input(h, good)), results.Pass)
}
