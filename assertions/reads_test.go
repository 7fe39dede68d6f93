package assertions_test

import (
	"testing"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// readBy is a linearizable read of account by client.
func readBy(client uint16, account uint32, saw int64, sent, done int) tx {
	r := read(account, saw, sent, done)
	r.client = client
	return r
}

// staleRead is a ?stale=true read.
func staleRead(account uint32, saw int64, sent, done int) tx {
	r := read(account, saw, sent, done)
	r.typ = results.OpStaleRead
	return r
}

// readsRun is a history and one replica whose journal commits the given transfers in order
// (indexes 5, 6, …: the ledger helper's).
func readsRun(t *testing.T, journal []tx, ops ...tx) *assertions.Input {
	t.Helper()
	return input(history(t, ops...), ledger("ledger:a", journal...))
}

func TestReadsLinearizable(t *testing.T) {
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	t1slow := transfer(1, 0, 1, 100, outcome.OK, 0, 50)
	t1unknown := transfer(1, 0, 1, 100, outcome.Unknown, 0, 10)
	cases := []struct {
		name    string
		journal []tx
		ops     []tx
		want    results.Verdict
		says    []string
	}{
		{"reads after a commit see it", []tx{t1}, []tx{t1, read(0, 900, 20, 30), read(1, 1100, 20, 30)},
			results.Pass, []string{"2 reads (0 stale) of 2 accounts against ledger:a's journal of 1 entries; 0 illegal"}},
		{"a stale read after an acknowledged transfer", []tx{t1}, []tx{t1, read(0, 1000, 20, 30)},
			results.Fail, []string{"stale reads: a balance older than a change acknowledged before the read was sent: 1",
				"read acc-0 = 1000 by op 1 (client 0, sent 20ms, done 30ms, ok): acc-0 held 1000 up to index 4, but " + tid(1) +
					" was acknowledged at 10ms, before the read was sent, and committed at index 5"}},
		{"reads concurrent with a commit may see either state", []tx{t1slow},
			[]tx{t1slow, read(0, 1000, 10, 20), read(0, 900, 30, 40)}, results.Pass, nil},
		{"a balance the account never held", []tx{t1}, []tx{t1, read(0, 950, 20, 30)},
			results.Fail, []string{"reads of a balance the account never held: 1",
				"read acc-0 = 950 by op 1", "acc-0 never held 950 (from index 5, where the read's window starts, it held 900 from index 5)"}},
		{"a client whose reads go back", []tx{t1slow},
			[]tx{t1slow, readBy(3, 0, 900, 10, 20), readBy(3, 0, 1000, 30, 40)},
			results.Fail, []string{"reads that went back", "read acc-0 = 1000 by op 2 (client 3",
				"client 3's earlier read, op 1 (client 3, sent 10ms, done 20ms, ok), already saw index 5 (non-monotonic client)"}},
		{"a read older than another client's finished read", []tx{t1slow},
			[]tx{t1slow, readBy(1, 0, 900, 10, 20), readBy(2, 0, 1000, 30, 40)},
			results.Fail, []string{"read acc-0 = 1000 by op 2 (client 2", "but read acc-0 = 900 by op 1 (client 1, sent 10ms, done 20ms, ok), which returned before this read was sent, saw index 5"}},
		{"overlapping reads of two clients may disagree", []tx{t1slow},
			[]tx{t1slow, readBy(1, 0, 900, 10, 35), readBy(2, 0, 1000, 30, 40)}, results.Pass, nil},
		{"a read from the future", []tx{transfer(1, 0, 1, 100, outcome.OK, 20, 30)},
			[]tx{read(0, 900, 0, 10), transfer(1, 0, 1, 100, outcome.OK, 20, 30)},
			results.Fail, []string{"reads from the future", "acc-0 held 900 only from index 5, after " + tid(1) + " (index 5), whose first submission was sent at 20ms, after the read returned"}},
		{"an unknown transfer may commit late", []tx{t1unknown},
			[]tx{t1unknown, read(0, 1000, 20, 30), read(0, 900, 40, 50)}, results.Pass, nil},
		{"an unknown transfer that never committed is never seen", nil,
			[]tx{t1unknown, read(0, 1000, 20, 30)}, results.Pass, nil},
		{"a seen unknown transfer that never committed", nil,
			[]tx{t1unknown, read(0, 900, 20, 30)}, results.Fail, []string{"acc-0 never held 900"}},
		{"a resubmission bounds nothing: the key's first send does", []tx{t1unknown},
			[]tx{t1unknown, read(0, 900, 20, 25), transfer(1, 0, 1, 100, outcome.OK, 30, 40)}, results.Pass, nil},
		{"a rejection acknowledged before the read orders it after its index", []tx{transfer(1, 0, 1, 100, outcome.Unknown, 0, 100), transfer(2, 2, 3, 5000, outcome.Rejected, 10, 20)},
			[]tx{transfer(1, 0, 1, 100, outcome.Unknown, 0, 100), transfer(2, 2, 3, 5000, outcome.Rejected, 10, 20), read(0, 1000, 30, 40)},
			results.Fail, []string{"acc-0 held 1000 up to index 4, but " + tid(2) + " was acknowledged at 20ms"}},
		{"a stale read may be old", []tx{t1}, []tx{t1, staleRead(0, 1000, 20, 30), staleRead(0, 900, 40, 50), staleRead(0, 1000, 60, 70)},
			results.Pass, []string{"3 reads (3 stale)"}},
		{"a stale read of a balance never held", []tx{t1}, []tx{t1, staleRead(0, 950, 20, 30)},
			results.Fail, []string{"acc-0 never held 950"}},
		{"a stale read from the future", []tx{transfer(1, 0, 1, 100, outcome.OK, 20, 30)},
			[]tx{staleRead(0, 900, 0, 10), transfer(1, 0, 1, 100, outcome.OK, 20, 30)}, results.Fail, []string{"reads from the future"}},
		{"failed reads are not judged", []tx{t1}, []tx{t1, read(0, 1000, 20, 30), {read: true, from: 0, amount: 3, kind: outcome.Failed, sent: ms(40), done: ms(50)}},
			results.Fail, []string{"1 illegal"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustNew(t, "reads_linearizable", nil).Check(readsRun(t, c.journal, c.ops...))
			expect(t, res, c.want, c.says...)
		})
	}
}

func TestReadsSeeNoStateInsideABatch(t *testing.T) {
	// Two transfers group-committed at one index cancel out on acc-0: the 900 between them was
	// never a state of the ledger.
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 50)
	t2 := transfer(2, 1, 0, 100, outcome.OK, 0, 50)
	rep := ledger("ledger:a", t1, t2)
	tr := rep.Transfers[tid(2)]
	tr.Index = rep.Transfers[tid(1)].Index
	rep.Transfers[tid(2)] = tr
	res := mustNew(t, "reads_linearizable", nil).Check(input(history(t, t1, t2, read(0, 900, 10, 20)), rep))
	expect(t, res, results.Fail, "acc-0 never held 900 (from index 0, where the read's window starts, it held 1000 from index 0, 1000 from index 5)")
}

func TestReadsFollowBlindWritesAndRepeatedEntries(t *testing.T) {
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	rep := ledger("ledger:a", t1)
	// skip_dedupe: the resubmission applied again at index 6.
	again := rep.Transfers[tid(1)]
	again.Index = 6
	rep.Repeated = append(rep.Repeated, again)
	move(&rep, acc(0), -100)
	move(&rep, acc(1), 100)
	blindWrite(&rep, "p-1", acc(0), 500) // index 100
	ops := []tx{t1, transfer(1, 0, 1, 100, outcome.OK, 20, 30), read(0, 800, 40, 50), read(0, 500, 200, 210)}
	expect(t, mustNew(t, "reads_linearizable", nil).Check(input(history(t, ops...), rep)), results.Pass)
}

func TestReadsTakeTheMostAdvancedReplica(t *testing.T) {
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	behind := ledger("ledger:b") // has not applied t1
	behind.AppliedIndex = 2
	res := mustNew(t, "reads_linearizable", nil).Check(input(history(t, t1, read(0, 900, 20, 30)), behind, ledger("ledger:a", t1)))
	expect(t, res, results.Pass, "against ledger:a's journal")
}

func TestReadsUndecidable(t *testing.T) {
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	check := func(in *assertions.Input) results.AssertionResult {
		return mustNew(t, "reads_linearizable", nil).Check(in)
	}
	t.Run("no answered read", func(t *testing.T) {
		expect(t, check(readsRun(t, []tx{t1}, t1)), results.Undecided, "no answered read")
	})
	t.Run("an empty history", func(t *testing.T) {
		expect(t, check(input(results.NewHistory(epoch, 10), ledger("ledger:a"))), results.Undecided, "the history is empty")
	})
	t.Run("no readable replica", func(t *testing.T) {
		expect(t, check(input(history(t, t1, read(0, 900, 20, 30)))), results.Undecided, "no replica states were collected")
	})
	t.Run("a replica without a journal", func(t *testing.T) {
		expect(t, check(input(history(t, t1, read(0, 900, 20, 30)), ledger("ledger:a"))), results.Undecided,
			"ledger:a exports no journal, yet the history has 1 acknowledged transfers")
	})
	t.Run("an acknowledged transfer missing from the journal", func(t *testing.T) {
		t2 := transfer(2, 2, 3, 100, outcome.OK, 0, 10)
		expect(t, check(input(history(t, t1, t2, read(0, 900, 20, 30)), ledger("ledger:a", t1))), results.Undecided,
			"1 transfers acknowledged committed are not in ledger:a's journal")
	})
	dropped := func(ops ...tx) *results.History {
		h := history(t, ops...)
		full := results.NewHistory(epoch, h.Len())
		for _, op := range h.Ops() {
			full.Add(op, h.Reason(op))
		}
		full.Add(results.Op{}, "") // past capacity: dropped
		return full
	}
	t.Run("a clean history that dropped records", func(t *testing.T) {
		expect(t, check(input(dropped(t1, read(0, 900, 20, 30)), ledger("ledger:a", t1))), results.Undecided,
			"the history dropped 1 operations past its capacity: a pass cannot vouch for them")
	})
	t.Run("a violation in a history that dropped records still fails", func(t *testing.T) {
		expect(t, check(input(dropped(t1, read(0, 1000, 20, 30)), ledger("ledger:a", t1))), results.Fail, "stale reads")
	})
}
