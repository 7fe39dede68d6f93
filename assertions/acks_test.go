package assertions_test

import (
	"testing"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

func TestNoLostAckCatchesAnAcknowledgedTransferMissingOnOneReplica(t *testing.T) {
	reps := cleanReplicas()
	reps[2] = ledger("ledger:c", t1, t3) // never applied t2, which the client saw committed
	res := mustNew(t, "no_lost_ack", nil).Check(input(cleanHistory(t), reps...))
	expect(t, res, results.Fail, tid(2)+" (acc-1→acc-2 50) acknowledged by op 1", "missing on ledger:c (absent)")
}

func TestNoLostAckIsUnknownWhenAReplicaWasDownAtTheEnd(t *testing.T) {
	reps := cleanReplicas()
	reps[2] = ledger("ledger:c", t1, t3)
	reps[2].Live = false // crashed at the end of the run and not restarted: it was never audited
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(cleanHistory(t), reps...)), results.Undecided,
		"1 replicas could not be audited", "ledger:c: down at the end of the run")
}

func TestNoLostAckCatchesAnAcknowledgedCommitStoredAsRejected(t *testing.T) {
	r := ledger("ledger:a", t1, tx{key: 2, from: 1, to: 2, amount: 50, kind: outcome.Rejected, reason: "insufficient_funds"}, t3)
	res := mustNew(t, "no_lost_ack", nil).Check(input(cleanHistory(t), r))
	expect(t, res, results.Fail, "missing on ledger:a (rejected insufficient_funds)")
}

func TestNoLostAckCatchesARejectedTransferThatCommitted(t *testing.T) {
	// The client was told "insufficient funds"; the ledger committed it anyway.
	r := ledger("ledger:a", t1, t2, tx{key: 3, from: 3, to: 0, amount: 5000, kind: outcome.OK})
	res := mustNew(t, "no_lost_ack", nil).Check(input(cleanHistory(t), r))
	expect(t, res, results.Fail, tid(3)+" (acc-3→acc-0 5000) rejected (insufficient_funds)", "committed on ledger:a")
}

func TestNoLostAckCatchesADefinitelyFailedTransferThatCommitted(t *testing.T) {
	h := history(t, tx{key: 5, from: 0, to: 1, amount: 10, kind: outcome.Failed, reason: "not_leader", sent: ms(5)})
	r := ledger("ledger:a", tx{key: 5, from: 0, to: 1, amount: 10, kind: outcome.OK})
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(h, r)), results.Fail, "failed every time")
}

func TestNoLostAckCatchesContradictoryAcknowledgements(t *testing.T) {
	h := history(t,
		tx{key: 4, from: 0, to: 1, amount: 10, kind: outcome.OK, sent: ms(5)},
		tx{key: 4, from: 0, to: 1, amount: 10, kind: outcome.Rejected, reason: "insufficient_funds", sent: ms(9)})
	r := ledger("ledger:a", tx{key: 4, from: 0, to: 1, amount: 10, kind: outcome.OK})
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(h, r)), results.Fail, "acknowledged both committed and rejected: 1")
}

func TestNoLostAckLetsUnknownOutcomesGoEitherWay(t *testing.T) {
	h := history(t,
		tx{key: 1, from: 0, to: 1, amount: 10, kind: outcome.Unknown, sent: ms(1)},
		tx{key: 2, from: 0, to: 1, amount: 10, kind: outcome.Unknown, sent: ms(2)},
		tx{key: 3, from: 0, to: 1, amount: 9999, kind: outcome.Unknown, sent: ms(3)})
	r := ledger("ledger:a",
		tx{key: 1, from: 0, to: 1, amount: 10, kind: outcome.OK},
		tx{key: 3, from: 0, to: 1, amount: 9999, kind: outcome.Rejected, reason: "insufficient_funds"})
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(h, r)), results.Pass, "unknown outcomes: 1 committed, 1 rejected, 1 absent")
}

func TestNoLostAckIsUnknownWhenALiveReplicaCannotBeRead(t *testing.T) {
	reps := append(cleanReplicas()[:2], assertions.Replica{Node: "ledger:c", Live: true, Err: errString("export: EOF")})
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(cleanHistory(t), reps...)), results.Undecided, "1 replicas could not be audited: ledger:c: export: EOF")
}

type errString string

func (e errString) Error() string { return string(e) }

func TestReplicasConverge(t *testing.T) {
	cases := []struct {
		name   string
		breaks func(reps []assertions.Replica)
		want   results.Verdict
		says   []string
	}{
		{"equal exports", func([]assertions.Replica) {}, results.Pass, []string{"1 distinct states among 3 live replicas"}},
		{"one replica lags", func(reps []assertions.Replica) {
			reps[2] = ledger("ledger:c", t1)
			reps[2].StateHash, reps[2].AppliedIndex = "h-behind", 5
		}, results.Fail, []string{
			"2 distinct states", "state 1: ledger:a (applied 7), ledger:b (applied 7)", "state 2: ledger:c (applied 5)",
			"ledger:c differs from ledger:a (applied 5 vs 7)", "transfer " + tid(2) + ": absent on ledger:c (committed at index 6 on ledger:a)",
			"account acc-2: balance 1000 version 0 opening 1000 on ledger:c, vs 1050 version 1 opening 1000",
		}},
		{"a replica down at the end is not compared, so no pass", func(reps []assertions.Replica) {
			reps[2].StateHash, reps[2].Live = "h-old", false
		}, results.Undecided, []string{"1 replicas could not be compared: ledger:c: down at the end of the run"}},
		{"an unreadable replica", func(reps []assertions.Replica) {
			reps[1] = assertions.Replica{Node: "ledger:b", Live: true, Err: errString("export: no trailer")}
		}, results.Undecided, []string{"ledger:b: export: no trailer"}},
		{"state moved during an export: the exports still compare", func(reps []assertions.Replica) { reps[1].StateHash = "" },
			results.Pass, nil},
		{"equal exports, different hashes", func(reps []assertions.Replica) { reps[1].StateHash = "h-fences" },
			results.Fail, []string{"equal exports, different state hashes", "ledger:b h-fences"}},
		{"a transfer body differs", func(reps []assertions.Replica) {
			tr := reps[1].Transfers[tid(1)]
			tr.Amount = 1000
			reps[1].Transfers[tid(1)] = tr
		}, results.Fail, []string{"transfer " + tid(1) + ": ", "Amount:1000", "on ledger:b"}},
		{"a blind write differs", func(reps []assertions.Replica) {
			reps[0].Writes = []assertions.Write{{Payment: "p-1", Account: "acc-0", Old: 900, New: 800, Index: 9}}
			reps[1].Writes = []assertions.Write{{Payment: "p-1", Account: "acc-0", Old: 900, New: 800, Index: 9}}
		}, results.Fail, []string{"blind write 1 (payment p-1 on acc-0 at index 9): absent on ledger:c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reps := cleanReplicas()
			c.breaks(reps)
			res := mustNew(t, "replicas_converge", map[string]any{"within": "5s"}).Check(input(nil, reps...))
			expect(t, res, c.want, c.says...)
			if res.Limit != "equal exports (accounts, transfers, writes) on every replica within 5s" {
				t.Errorf("limit %q", res.Limit)
			}
		})
	}
}
