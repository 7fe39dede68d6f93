package assertions_test

import (
	"fmt"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/results"
)

// successRun builds one-second windows whose success ratios are the given percentages (100
// requests each), with zone-down from 3s to 6s.
func successRun(pcts ...uint64) *assertions.Input {
	in := &assertions.Input{Start: epoch, Events: []results.Event{
		{At: 3 * time.Second, Until: 6 * time.Second, Kind: results.EventFault, Name: "zone-down", Target: "us-east/a"},
	}}
	for i, p := range pcts {
		in.Windows = append(in.Windows, results.Figures{Name: fmt.Sprintf("w%d", i), Start: time.Duration(i) * time.Second,
			End: time.Duration(i+1) * time.Second, Requests: 100, OK: p, Failed: 100 - p})
	}
	return in
}

func TestRecoveryTime(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		pcts   []uint64
		want   results.Verdict
		says   []string
	}{
		{"back two seconds after the fault starts", map[string]any{"below": "3s"},
			[]uint64{100, 100, 100, 50, 50, 100, 100, 100, 100, 100}, results.Pass, []string{"worst 2s over 1 faults"}},
		{"too slow for the limit", map[string]any{"below": "2s"},
			[]uint64{100, 100, 100, 50, 50, 100, 100, 100, 100, 100}, results.Fail,
			[]string{"zone-down us-east/a start at 3s: recovered after 2s", "success per window: 3s 50%, 4s 50%, 5s 100%"}},
		{"a recovery that never comes", map[string]any{"below": "3s"},
			[]uint64{100, 100, 100, 50, 50, 60, 70, 80, 90, 98}, results.Fail,
			[]string{"not recovered by the end of the run (10s)", "1 of 1 faults not recovered"}},
		{"one good second is not a recovery", map[string]any{"below": "10s"},
			[]uint64{100, 100, 100, 0, 0, 100, 0, 100, 100, 100}, results.Pass, []string{"worst 4s"}},
		{"99% of offered is good enough", map[string]any{"below": "1s"},
			[]uint64{100, 100, 100, 99, 99, 99, 99, 99, 99, 99}, results.Pass, []string{"worst 0s"}},
		{"measured from the heal", map[string]any{"below": "2s", "from": "heal"},
			[]uint64{100, 100, 100, 0, 0, 0, 50, 100, 100, 100}, results.Pass, []string{"zone-down us-east/a heal at 6s: 1s"}},
		{"a stricter ratio and a longer stable stretch", map[string]any{"below": "4s", "ratio": "100%", "stable": 3},
			[]uint64{100, 100, 100, 50, 100, 100, 99, 100, 100, 100}, results.Fail, []string{"recovered after 4s"}},
		{"a fault filter naming no fault", map[string]any{"below": "3s", "fault": "dns-down"},
			[]uint64{100, 100}, results.Undecided, []string{`no fault named "dns-down"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, mustNew(t, "recovery_time", c.params).Check(successRun(c.pcts...)), c.want, c.says...)
		})
	}
}

func TestRecoveryTimeWithoutFaultsIsUnknown(t *testing.T) {
	in := successRun(100, 100)
	in.Events = nil
	expect(t, mustNew(t, "recovery_time", map[string]any{"below": "3s"}).Check(in), results.Undecided, "the run had no faults")
}

func TestRecoveryTimeFromHealOfAFaultNeverHealed(t *testing.T) {
	in := successRun(100, 100, 100, 100, 100)
	in.Events[0].Until = 0
	expect(t, mustNew(t, "recovery_time", map[string]any{"below": "3s", "from": "heal"}).Check(in), results.Fail, "never healed")
}

// failoverRun: ledger:us-east/a leads, zone us-east/a goes down at 2s, us-east/b leads at 2.3s.
func failoverRun(t *testing.T, ops ...tx) *assertions.Input {
	in := input(history(t, ops...))
	in.Events = []results.Event{
		{At: 0, Kind: results.EventLeader, Name: "leader", Target: "ledger:us-east/a"},
		{At: 2 * time.Second, Until: 8 * time.Second, Kind: results.EventFault, Name: "zone-down", Target: "us-east/a"},
		{At: ms(2300), Kind: results.EventLeader, Name: "leader", Target: "ledger:us-east/b"},
	}
	return in
}

func TestFailoverTime(t *testing.T) {
	before := tx{key: 1, kind: results.OK, from: 0, to: 1, amount: 1, sent: ms(1000), done: ms(1005)}
	// Sent before the loss, answered after it: it may have committed on the old leader, so it
	// does not mark the failover's end.
	straddling := tx{key: 2, kind: results.OK, from: 0, to: 1, amount: 1, sent: ms(1990), done: ms(2100)}
	failed := tx{key: 3, kind: results.Failed, from: 0, to: 1, amount: 1, sent: ms(2050), done: ms(2060)}
	next := tx{key: 4, kind: results.OK, from: 0, to: 1, amount: 1, sent: ms(2100), done: ms(2600), client: 7}

	in := failoverRun(t, before, straddling, failed, next)
	res := mustNew(t, "failover_time", map[string]any{"below": "1s"}).Check(in)
	expect(t, res, results.Pass, "leader ledger:us-east/a lost at 2s (fault zone-down us-east/a): next commit after 600ms, op 3 (client 7")

	res = mustNew(t, "failover_time", map[string]any{"below": "500ms"}).Check(in)
	expect(t, res, results.Fail, "leader losses not followed by a commit within the limit: 1", "next commit after 600ms")

	res = mustNew(t, "failover_time", map[string]any{"below": "1s"}).Check(failoverRun(t, before, straddling, failed))
	expect(t, res, results.Fail, "no transfer sent after it committed")
}

func TestFailoverTimeFindsLeaderLosses(t *testing.T) {
	commit := tx{key: 9, kind: results.OK, from: 0, to: 1, amount: 1, sent: ms(5000), done: ms(5100)}
	cases := []struct {
		name   string
		events []results.Event
		want   results.Verdict
		says   string
	}{
		{"a fault on another zone loses no leader", []results.Event{
			{At: 0, Kind: results.EventLeader, Target: "ledger:us-east/a"},
			{At: ms(4000), Kind: results.EventFault, Name: "zone-down", Target: "us-east/c"},
		}, results.Undecided, "no leader loss in the run"},
		{"a region partition takes the leader's region", []results.Event{
			{At: 0, Kind: results.EventLeader, Target: "ledger:us-east/a"},
			{At: ms(4000), Kind: results.EventFault, Name: "region-partition", Target: "us-east"},
		}, results.Pass, "lost at 4s (fault region-partition us-east): next commit after 1.1s"},
		{"a leader fault needs no target", []results.Event{
			{At: ms(4500), Kind: results.EventFault, Name: "leader-kill"},
		}, results.Pass, "next commit after 600ms"},
		{"a leader event without a leader", []results.Event{
			{At: 0, Kind: results.EventLeader, Target: "ledger:us-east/a"},
			{At: ms(4900), Kind: results.EventLeader, Target: ""},
		}, results.Pass, "(no leader): next commit after 200ms"},
		{"an unexplained leader change counts from the change", []results.Event{
			{At: 0, Kind: results.EventLeader, Target: "ledger:us-east/a"},
			{At: ms(4950), Kind: results.EventLeader, Target: "ledger:us-east/b"},
		}, results.Pass, "cause not recorded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := input(history(t, commit))
			in.Events = c.events
			expect(t, mustNew(t, "failover_time", map[string]any{"below": "2s"}).Check(in), c.want, c.says)
		})
	}
}
