package ledger

import (
	"testing"
	"time"
)

func TestElectionBackoffStretchesWhileLeaderlessAndResetsOnceALeaderHolds(t *testing.T) {
	b := newElectionBackoff(50*time.Millisecond, 200*time.Millisecond)
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	step := func(ms int, leader bool, wantFactor int, wantChanged bool) {
		t.Helper()
		f, ch := b.observe(at(ms), leader)
		if f != wantFactor || ch != wantChanged {
			t.Fatalf("at %dms (leader %v): factor %d changed %v, want %d %v", ms, leader, f, ch, wantFactor, wantChanged)
		}
	}
	step(0, true, 1, false)
	step(100, false, 1, false) // the leader is lost: a stretch begins
	step(450, false, 1, false) // 350ms: an election may still be under way (2 × 200ms)
	step(550, false, 2, true)  // 450ms without a leader: every election in it failed
	step(900, false, 2, false) // the next doubling needs 2 × 400ms at the new timeouts
	step(1400, false, 4, true)
	step(3100, false, 8, true)
	step(9000, false, 8, false) // capped
	if hb, et := b.timeouts(8); hb != 400*time.Millisecond || et != 1600*time.Millisecond {
		t.Fatalf("timeouts at 8×: %v %v", hb, et)
	}
	step(9100, true, 8, false)   // a leader: not yet trusted
	step(10000, false, 8, false) // lost again before it held: still stretched
	step(10100, true, 8, false)
	step(12099, true, 8, false)
	step(12100, true, 1, true) // held for 10 × 200ms
	step(12200, true, 1, false)
}
