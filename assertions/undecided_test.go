package assertions_test

import (
	"testing"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// truncated copies the history of ops into one that kept them all and dropped n more past its
// capacity, as a run that hit MaxHistory records it.
func truncated(t *testing.T, n int, ops ...tx) *results.History {
	t.Helper()
	h := history(t, ops...)
	out := results.NewHistory(epoch, max(h.Len(), 1))
	for _, op := range h.Ops() {
		out.Add(op, h.Reason(op))
	}
	for range n {
		out.Add(results.Op{}, "")
	}
	return out
}

// Issue 10, item 5: inputs that cannot decide are unknown, never a pass with a note. Every
// checker that needs the history says unknown on an empty one, and on one that dropped records
// past its bound (a violation in the records it kept still fails).
func TestInputsThatCannotDecideAreUnknown(t *testing.T) {
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	leaderEvents := []results.Event{
		{At: 0, Kind: results.EventLeader, Target: "ledger:a"},
		{At: ms(1), Kind: results.EventFault, Name: "leader-kill"},
		{At: ms(3), Kind: results.EventLeader, Target: "ledger:b"},
	}
	cases := []struct {
		name   string
		check  string
		params map[string]any
		in     func() *assertions.Input
		want   results.Verdict
		says   string
	}{
		{"no_lost_ack on an empty history", "no_lost_ack", nil,
			func() *assertions.Input { return input(results.NewHistory(epoch, 10), ledger("ledger:a", t1)) },
			results.Undecided, "the history is empty"},
		{"no_lost_ack on a truncated history", "no_lost_ack", nil,
			func() *assertions.Input { return input(truncated(t, 3, t1), ledger("ledger:a", t1)) },
			results.Undecided, "the history dropped 3 operations past its capacity: a pass cannot vouch for them"},
		{"no_lost_ack still fails on a lost ack in a truncated history", "no_lost_ack", nil,
			func() *assertions.Input { return input(truncated(t, 3, t1), ledger("ledger:a")) },
			results.Fail, "acknowledged committed, not committed on a live replica: 1"},
		{"linearizable on an empty history", "linearizable", nil,
			func() *assertions.Input { return input(results.NewHistory(epoch, 10), ledger("ledger:a")) },
			results.Undecided, "the history is empty"},
		{"reads_linearizable on an empty history", "reads_linearizable", nil,
			func() *assertions.Input { return input(results.NewHistory(epoch, 10), ledger("ledger:a")) },
			results.Undecided, "the history is empty"},
		{"failover_time on an empty history", "failover_time", map[string]any{"below": "1s"},
			func() *assertions.Input {
				in := input(results.NewHistory(epoch, 10))
				in.Events = leaderEvents
				return in
			}, results.Undecided, "the history is empty"},
		{"failover_time on a truncated history", "failover_time", map[string]any{"below": "1s"},
			func() *assertions.Input {
				in := input(truncated(t, 1, transfer(1, 0, 1, 1, outcome.OK, 5, 9)))
				in.Events = leaderEvents
				return in
			}, results.Undecided, "the history dropped 1 operations past its capacity"},
		{"blind writes at face value when the history dropped their payments", "no_double_deduct", nil,
			func() *assertions.Input {
				// The lost update: the write read a stale balance, and new−old looks like a
				// plain debit; only the history's payment could show the loss.
				r := ledger("ledger:a")
				blindWrite(&r, tid(9), acc(0), 900)
				blindWrite(&r, tid(9), acc(1), 1100)
				return input(truncated(t, 5, transfer(1, 2, 3, 1, outcome.OK, 0, 1)), r)
			}, results.Undecided, "1 blind-write payments could not be held against the history: the history dropped 5 operations"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, mustNew(t, c.check, c.params).Check(c.in()), c.want, c.says)
		})
	}
}

// With a whole history the same inputs decide: the rule withholds only what cannot be vouched for.
func TestWholeHistoriesStillDecide(t *testing.T) {
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	expect(t, mustNew(t, "no_lost_ack", nil).Check(input(history(t, t1), ledger("ledger:a", t1))), results.Pass)
	in := input(history(t, transfer(1, 0, 1, 1, outcome.OK, 5, 9)))
	in.Events = []results.Event{
		{At: 0, Kind: results.EventLeader, Target: "ledger:a"},
		{At: ms(1), Kind: results.EventFault, Name: "leader-kill"},
		{At: ms(3), Kind: results.EventLeader, Target: "ledger:b"},
	}
	in.Total = results.Figures{End: time.Second}
	expect(t, mustNew(t, "failover_time", map[string]any{"below": "1s"}).Check(in), results.Pass, "next commit after 8ms")
}
