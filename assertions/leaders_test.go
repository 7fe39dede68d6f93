package assertions_test

import (
	"testing"
	"time"

	"paylab/assertions"
	"paylab/results"
)

// zoneRun: us-east/a leads, its zone is down from 6s to 14s, us-east/b is elected at 6.4s; the run
// ends at 20s. The events after the heal are the caller's.
func zoneRun(after ...results.Event) *assertions.Input {
	in := &assertions.Input{Start: epoch}
	for i := 0; i < 20; i++ {
		in.Windows = append(in.Windows, results.Figures{Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second, Requests: 100, OK: 100})
	}
	leader := func(at time.Duration, who string) results.Event {
		return results.Event{At: at, Kind: results.EventLeader, Name: "leader", Target: who}
	}
	in.Events = []results.Event{
		leader(ms(100), "ledger:us-east/a"),
		{At: 6 * time.Second, Until: 14 * time.Second, Kind: results.EventFault, Name: "zone-down", Target: "us-east/a"},
		leader(ms(6010), "none"),
		leader(ms(6400), "ledger:us-east/b"),
	}
	in.Events = append(in.Events, after...)
	return in
}

func leaderAt(at time.Duration, who string) results.Event {
	return results.Event{At: at, Kind: results.EventLeader, Name: "leader", Target: who}
}

func TestLeaderChangesFailsChurnAfterTheHeal(t *testing.T) {
	// What issue 9 saw: the leader lost three times after the crashed zone came back.
	in := zoneRun(
		leaderAt(14*time.Second, "none"), leaderAt(ms(14300), "ledger:us-east/c"),
		leaderAt(18*time.Second, "none"), leaderAt(ms(18500), "ledger:us-east/c"),
		leaderAt(20*time.Second, "none"),
	)
	res := mustNew(t, "leader_changes", map[string]any{"phase": "after:zone-down", "at_most": 1}).Check(in)
	expect(t, res, results.Fail, "3 leadership changes", "14s: ledger:us-east/b → none", "18s: ledger:us-east/c → none", "20s: ledger:us-east/c → none")
	if res.Value == nil || *res.Value != 3 {
		t.Errorf("Value = %v, want 3", res.Value)
	}
}

func TestLeaderChangesPassesACleanFailover(t *testing.T) {
	in := zoneRun() // one change, during the fault; none after the heal
	expect(t, mustNew(t, "leader_changes", map[string]any{"phase": "after:zone-down", "at_most": 0}).Check(in), results.Pass, "0 leadership changes")
	expect(t, mustNew(t, "leader_changes", map[string]any{"phase": "during:zone-down", "at_most": 1}).Check(in), results.Pass, "1 leadership changes")
	expect(t, mustNew(t, "leader_changes", map[string]any{"phase": "during:zone-down", "at_most": 0}).Check(in), results.Fail,
		"6.01s: ledger:us-east/a → none")
	expect(t, mustNew(t, "leader_changes", map[string]any{"at_most": 1}).Check(in), results.Pass, "1 leadership changes in all")
}

func TestLeaderChangesCountsEachEndedLeadershipOnce(t *testing.T) {
	// a → none → a is one change (the leader stepped down and won again), a → b directly is one,
	// and the election after a loss is not another.
	in := zoneRun(leaderAt(15*time.Second, "none"), leaderAt(ms(15200), "ledger:us-east/b"), leaderAt(16*time.Second, "ledger:us-east/c"))
	expect(t, mustNew(t, "leader_changes", map[string]any{"phase": "after:zone-down", "at_most": 1}).Check(in), results.Fail,
		"2 leadership changes", "15s: ledger:us-east/b → none", "16s: ledger:us-east/b → ledger:us-east/c")
}

func TestLeaderChangesUnknownWithoutLeaderEventsOrPhase(t *testing.T) {
	in := zoneRun()
	in.Events = in.Events[1:2] // the fault only
	expect(t, mustNew(t, "leader_changes", map[string]any{"at_most": 1}).Check(in), results.Undecided, "no leader events")
	expect(t, mustNew(t, "leader_changes", map[string]any{"phase": "after:dns-down", "at_most": 1}).Check(zoneRun()), results.Undecided, `no fault named "dns-down"`)
}

func TestLeaderChangesNeedsItsLimit(t *testing.T) {
	if _, err := assertions.New("leader_changes", map[string]any{"phase": "after:zone-down"}); err == nil {
		t.Fatal("leader_changes without at_most was accepted")
	}
	if _, err := assertions.New("leader_changes", map[string]any{"at_most": -1}); err == nil {
		t.Fatal("leader_changes with a negative limit was accepted")
	}
}

func TestEventCountProvesTheScenarioDidWhatItMeant(t *testing.T) {
	in := zoneRun(results.Event{At: ms(15500), Kind: results.EventNote, Name: "snapshot-installed", Target: "us-east/a", Detail: "index 4096"})
	expect(t, mustNew(t, "event_count", map[string]any{"name": "snapshot-installed", "phase": "after:zone-down"}).Check(in), results.Pass,
		"1 \"snapshot-installed\" events", "15.5s: us-east/a index 4096")
	expect(t, mustNew(t, "event_count", map[string]any{"name": "snapshot-installed", "phase": "during:zone-down"}).Check(in), results.Fail,
		"0 \"snapshot-installed\" events")
	expect(t, mustNew(t, "event_count", map[string]any{"name": "snapshot-installed", "at_least": 2}).Check(in), results.Fail, "1 \"snapshot-installed\"")
	if _, err := assertions.New("event_count", map[string]any{"at_least": 1}); err == nil {
		t.Fatal("event_count without a name was accepted")
	}
}
