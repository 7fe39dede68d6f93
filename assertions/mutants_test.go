package assertions_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// A mutant is a deliberate bug planted in a run's history, exports or figures: the clean run
// must pass the assertion and the mutant must not, with evidence naming what broke (issue 10,
// "Mutants: every checker proven to bite"). These are the mutants of the read, recovery and
// failover checkers; the ledger's own switches are proven by nodes/ledger's
// TestLedgerMutantsAreCaught (export omits a transfer, drop on restore, replay twice) and by the
// shipped scenarios broken-dedupe, broken-ack and broken-amount; the payment mutants (new ledger
// id on retry, another amount, acknowledge rejected but commit, lost update through a blind write)
// by TestPaymentMutantsAreCaught on a real ledger and gateway. Every mutant must have its row in
// docs/CHECKERS.md.
func TestMutantsAreCaught(t *testing.T) {
	catalogue, err := os.ReadFile("../docs/CHECKERS.md")
	if err != nil {
		t.Fatal(err)
	}
	t1 := transfer(1, 0, 1, 100, outcome.OK, 0, 10)
	t2 := transfer(2, 0, 2, 50, outcome.OK, 40, 50)
	leader := func(at time.Duration, node string) results.Event {
		return results.Event{At: at, Kind: results.EventLeader, Name: "leader", Target: node}
	}
	cases := []struct {
		name   string
		check  string
		params map[string]any
		build  func(t *testing.T, mutant bool) *assertions.Input
		want   results.Verdict // the mutant's
		says   []string
		// quiet lists assertions the mutant passes: the bug is visible only to check.
		quiet []string
	}{
		{name: "stale read: a deposed leader serves its local state", check: "reads_linearizable",
			build: func(t *testing.T, mutant bool) *assertions.Input {
				saw := int64(900)
				if mutant {
					saw = 1000
				}
				return input(history(t, t1, readBy(4, 0, saw, 20, 30)), ledger("ledger:a", t1))
			},
			want:  results.Fail,
			says:  []string{"stale reads", "read acc-0 = 1000 by op 1 (client 4", tid(1) + " was acknowledged at 10ms"},
			quiet: []string{"no_double_deduct", "conservation", "no_lost_ack"}},
		{name: "lost update visible only through reads", check: "reads_linearizable",
			build: func(t *testing.T, mutant bool) *assertions.Input {
				// Two debits of acc-0 commit in order; a read after both sees only the second:
				// the first was overwritten in the state served to reads (the journal, and so
				// every money check, is intact).
				saw := int64(850)
				if mutant {
					saw = 950
				}
				return input(history(t, t1, read(0, 900, 20, 30), t2, read(0, saw, 60, 70)), ledger("ledger:a", t1, t2))
			},
			want:  results.Fail,
			says:  []string{"reads of a balance the account never held: 1", "read acc-0 = 950 by op 3", "acc-0 never held 950"},
			quiet: []string{"no_double_deduct", "conservation", "no_negative_balance", "no_lost_ack"}},
		{name: "a client's reads go back (reads from two replicas)", check: "reads_linearizable",
			build: func(t *testing.T, mutant bool) *assertions.Input {
				slow := transfer(1, 0, 1, 100, outcome.OK, 0, 50)
				second := int64(900)
				if mutant {
					second = 1000
				}
				return input(history(t, slow, readBy(2, 0, 900, 10, 20), readBy(2, 0, second, 30, 40)), ledger("ledger:a", slow))
			},
			want: results.Fail,
			says: []string{"(non-monotonic client)", "read acc-0 = 1000 by op 2 (client 2"}},
		{name: "a read sees a transfer before it was sent", check: "reads_linearizable",
			build: func(t *testing.T, mutant bool) *assertions.Input {
				late := transfer(1, 0, 1, 100, outcome.OK, 20, 30)
				saw := int64(1000)
				if mutant {
					saw = 900
				}
				return input(history(t, read(0, saw, 0, 10), late), ledger("ledger:a", late))
			},
			want: results.Fail,
			says: []string{"reads from the future", tid(1) + " (index 5), whose first submission was sent at 20ms"}},
		{name: "a recovery dip after a brief recovery", check: "recovery_time", params: map[string]any{"below": "3s"},
			build: func(_ *testing.T, mutant bool) *assertions.Input {
				pcts := []int{100, 100, 100, 0, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100}
				if mutant {
					pcts = []int{100, 100, 100, 0, 100, 100, 0, 0, 0, 0, 0, 0, 0, 0, 100, 100}
				}
				return windowsRun([]results.Event{fault("zone-down", "us-east/a", 3*time.Second, 6*time.Second)}, pcts...)
			},
			want: results.Fail,
			says: []string{"zone-down us-east/a start at 3s: recovered after 11s, for good until the end of the run"}},
		{name: "a failover without a new leader", check: "failover_time", params: map[string]any{"below": "1s"},
			build: func(t *testing.T, mutant bool) *assertions.Input {
				in := input(history(t, transfer(1, 0, 1, 1, outcome.OK, 2010, 2015), transfer(2, 0, 1, 1, outcome.OK, 2400, 2420)))
				in.Events = []results.Event{leader(0, "ledger:us-east/a"),
					{At: 2 * time.Second, Until: 4 * time.Second, Kind: results.EventFault, Name: "zone-down", Target: "us-east/a"}}
				if !mutant {
					in.Events = append(in.Events, leader(ms(2300), "ledger:us-east/b"))
				}
				in.Total = results.Figures{End: 5 * time.Second}
				return in
			},
			want: results.Undecided,
			says: []string{"leader ledger:us-east/a lost at 2s (fault zone-down us-east/a): no new leader elected"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(strings.ToLower(string(catalogue)), "| "+strings.ToLower(c.name)) {
				t.Errorf("mutant %q has no row in docs/CHECKERS.md", c.name)
			}
			check := mustNew(t, c.check, c.params)
			expect(t, check.Check(c.build(t, false)), results.Pass)
			mutant := c.build(t, true)
			expect(t, check.Check(mutant), c.want, c.says...)
			for _, q := range c.quiet {
				if res := mustNew(t, q, nil).Check(mutant); res.Verdict != results.Pass {
					t.Errorf("%s: %s on the mutant, want pass (the bug is meant to be visible only to %s): %s %v", q, res.Verdict, c.check, res.Error, res.Evidence)
				}
			}
		})
	}
}
