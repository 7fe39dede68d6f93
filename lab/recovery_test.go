package lab

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/regions"
	"paylab/results"
)

// TestFinalRecoveryRestartsACrashedLedgerNodeBeforeTheExport: a ledger node crashed and left down misses a
// commit; the final recovery restarts it from its own files, it catches up, and its export is readable and
// equal to the others, so the checkers audit it. An event names it. Without the final recovery its
// replica is unreadable and the convergence check unknown.
func TestFinalRecoveryRestartsACrashedLedgerNodeBeforeTheExport(t *testing.T) {
	l := zoneLab(t, nil)
	ctx := context.Background()
	pay(t, l, 0, 1, 30*time.Second)
	ids := l.LedgerNodes()
	victim := ids[len(ids)-1]
	if err := l.CrashNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	pay(t, l, 0, 2, 30*time.Second) // committed while the victim is down

	var expected []string
	for _, id := range ids {
		expected = append(expected, LedgerName(id))
	}
	converge, err := assertions.New("replicas_converge", map[string]any{"within": "60s"})
	if err != nil {
		t.Fatal(err)
	}
	before := converge.Check(&assertions.Input{Replicas: l.exportReplicas(), Nodes: expected})
	if before.Verdict != results.Undecided || !strings.Contains(before.Error, LedgerName(victim)) {
		t.Fatalf("with %s down: %s %q, want unknown naming it", victim, before.Verdict, before.Error)
	}

	var out bytes.Buffer
	restarted := l.finalRecovery(ctx, &out)
	if !slices.Equal(restarted, []regions.NodeID{victim}) {
		t.Fatalf("final recovery restarted %v, want [%s]; it said %q", restarted, victim, out.String())
	}
	if !l.waitConverged(ctx, 60*time.Second) {
		t.Fatal("the restarted node did not catch up within 60s")
	}
	l.noteCaughtUp(restarted, true, time.Minute)
	reps := l.exportReplicas()
	for _, r := range reps {
		if !r.Live || !r.Readable() {
			t.Fatalf("replica %s live %v readable %v: %v", r.Node, r.Live, r.Readable(), r.Err)
		}
	}
	after := converge.Check(&assertions.Input{Replicas: reps, Nodes: expected})
	if after.Verdict != results.Pass {
		t.Fatalf("after the final recovery: %s %q %v", after.Verdict, after.Error, after.Evidence)
	}
	var notes []string
	for _, e := range l.Events() {
		if e.Name == "final-recovery" && e.Target == string(victim) {
			notes = append(notes, e.Detail)
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "restarted from its own files") || !strings.Contains(notes[1], "caught up") {
		t.Fatalf("final-recovery events for %s: %q", victim, notes)
	}
	if again := l.finalRecovery(ctx, &out); len(again) != 0 {
		t.Fatalf("a second final recovery restarted %v: every node was up", again)
	}
}
