package assertions_test

import (
	"testing"
	"time"

	"paylab/outcome"
	"paylab/results"
)

func read(account uint32, saw int64, sent, done int) tx {
	return tx{read: true, from: account, amount: saw, kind: outcome.OK, sent: ms(sent), done: ms(done)}
}

func transfer(key uint64, from, to uint32, amount int64, kind outcome.Kind, sent, done int) tx {
	reason := ""
	if kind == outcome.Rejected {
		reason = "insufficient_funds"
	}
	return tx{key: key, from: from, to: to, amount: amount, kind: kind, reason: reason, sent: ms(sent), done: ms(done)}
}

func TestLinearizable(t *testing.T) {
	cases := []struct {
		name string
		ops  []tx
		want results.Verdict
		says []string
	}{
		{"a read after a commit sees it", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 10), read(0, 900, 20, 30), read(1, 1100, 20, 30),
		}, results.Pass, nil},
		{"a read after a commit that does not see it", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 10), read(0, 1000, 20, 30),
		}, results.Fail, []string{"read acc-0 = 1000 — op 1", "accounts in the group: [acc-0 acc-1]"}},
		{"a read concurrent with a commit may see either", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 50), read(0, 1000, 10, 20), read(0, 900, 30, 40),
		}, results.Pass, nil},
		{"reads cannot go back in time", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 50), read(0, 900, 10, 20), read(0, 1000, 30, 40),
		}, results.Fail, nil},
		{"an unknown transfer may take effect late", []tx{
			transfer(1, 0, 1, 100, outcome.Unknown, 0, 10), read(0, 1000, 20, 30), read(0, 900, 40, 50),
		}, results.Pass, nil},
		{"an unknown transfer may never take effect", []tx{
			transfer(1, 0, 1, 100, outcome.Unknown, 0, 10), read(0, 1000, 40, 50),
		}, results.Pass, nil},
		{"an unknown transfer takes effect at most once", []tx{
			transfer(1, 0, 1, 100, outcome.Unknown, 0, 10), read(0, 900, 20, 30), read(0, 1000, 40, 50),
		}, results.Fail, nil},
		{"a resubmitted key is applied once", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 10), transfer(1, 0, 1, 100, outcome.OK, 20, 30), read(0, 900, 40, 50),
		}, results.Pass, nil},
		{"a resubmitted key applied twice", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 10), transfer(1, 0, 1, 100, outcome.OK, 20, 30), read(0, 800, 40, 50),
		}, results.Fail, nil},
		{"a rejection for funds the account had", []tx{
			transfer(1, 0, 1, 500, outcome.Rejected, 0, 10),
		}, results.Fail, []string{"transfer " + tid(1) + " acc-0→acc-1 500: rejected insufficient_funds"}},
		{"a rejection for funds the account lacked", []tx{
			transfer(1, 0, 1, 800, outcome.OK, 0, 10), transfer(2, 0, 2, 500, outcome.Rejected, 20, 30),
		}, results.Pass, nil},
		{"failed and stale operations are not judged", []tx{
			transfer(1, 0, 1, 100, outcome.Failed, 0, 10),
			{read: true, typ: results.OpStaleRead, from: 0, amount: 12345, kind: outcome.OK, sent: ms(20), done: ms(30)},
		}, results.Pass, []string{"0 independent account groups"}},
		{"independent accounts are checked apart", []tx{
			transfer(1, 0, 1, 100, outcome.OK, 0, 10), transfer(2, 2, 3, 100, outcome.OK, 0, 10), read(3, 1100, 20, 30),
		}, results.Pass, []string{"3 reads and transfers in 2 independent account groups"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustNew(t, "linearizable", nil).Check(input(history(t, c.ops...), ledger("ledger:a")))
			expect(t, res, c.want, c.says...)
		})
	}
}

func TestLinearizableBoundsTheHistory(t *testing.T) {
	ops := []tx{transfer(1, 0, 1, 1, outcome.OK, 0, 10), transfer(2, 0, 1, 1, outcome.OK, 0, 10), read(0, 998, 20, 30)}
	res := mustNew(t, "linearizable", map[string]any{"max_ops": 2}).Check(input(history(t, ops...)))
	expect(t, res, results.Undecided, "history too long for porcupine: 3 reads and transfers > max_ops 2")

	batch := tx{typ: results.OpBatch, kind: outcome.OK, sent: ms(1), done: ms(2)}
	res = mustNew(t, "linearizable", nil).Check(input(history(t, batch)))
	expect(t, res, results.Undecided, "1 batch or generic operations")
}

func TestLinearizableGivesUpAtItsTimeout(t *testing.T) {
	// Many concurrent unknown transfers between two accounts, then a read no order explains:
	// the search space is far beyond a nanosecond.
	var ops []tx
	for k := uint64(1); k <= 40; k++ {
		ops = append(ops, transfer(k, uint32(k%2), uint32(1-k%2), int64(k), outcome.Unknown, 0, 10))
	}
	ops = append(ops, read(0, 1, 20, 30))
	res := mustNew(t, "linearizable", map[string]any{"timeout": "1ns"}).Check(input(history(t, ops...)))
	expect(t, res, results.Undecided, "did not finish 1 of 1 account groups within 1ns: it got through 0 groups, 0 of 41 operations")
}

func TestHistoryTimesAreMovedOntoTheRunsTimeBase(t *testing.T) {
	// The history started 2s after the run (the load began after warm-up): its commit at
	// 100ms is at 2.1s of the run, after the leader loss at 2s.
	h := results.NewHistory(epoch.Add(2*time.Second), 10)
	h.Add(results.Op{OpDetail: results.OpDetail{Type: results.OpTransfer, Key: 1, From: 0, To: 1, Amount: 1},
		Sent: ms(50), Done: ms(100), Kind: outcome.OK}, "")
	in := input(h)
	in.Events = []results.Event{{At: 2 * time.Second, Kind: results.EventFault, Name: "leader-kill"},
		{At: 2*time.Second + ms(50), Kind: results.EventLeader, Name: "leader", Target: "ledger:b"}}
	expect(t, mustNew(t, "failover_time", map[string]any{"below": "1s"}).Check(in), results.Pass, "next commit after 100ms")
}
