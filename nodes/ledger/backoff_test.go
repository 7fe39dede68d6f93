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
	// base 50ms/200ms: a stretch is 3 × (50 + 2 × 200) = 1.35s
	step(0, true, 1, false)
	step(100, false, 1, false)  // the leader is lost: a stretch begins
	step(1400, false, 1, false) // 1.3s: a slow failover, not yet a failing one
	step(1500, false, 2, true)  // 1.4s without a leader: elections keep failing
	step(4000, false, 2, false) // the next doubling needs 2 × 1.35s at the new timeouts
	step(4300, false, 4, true)
	step(9800, false, 8, true)
	step(60000, false, 8, false) // capped
	if hb, et := b.timeouts(8); hb != 400*time.Millisecond || et != 1600*time.Millisecond {
		t.Fatalf("timeouts at 8×: %v %v", hb, et)
	}
	step(60100, true, 8, false)  // a leader: not yet trusted
	step(61000, false, 8, false) // lost again before it held: still stretched
	step(61100, true, 8, false)
	step(63099, true, 8, false)
	step(63100, true, 1, true) // known for 2s
	step(63200, true, 1, false)
}
