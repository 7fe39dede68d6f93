package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFailoverSummaryCountsStallsInsteadOfAborting(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	kills := []killResult{
		{leader: "n1", failover: ms(120), committed: true, terms: 1},
		{leader: "n2", failover: ms(480), committed: true, terms: 2},
		{leader: "n3", failover: ms(12_000), committed: true, terms: 9, lag: ms(900)}, // over the stall bound, starved
		{leader: "n1", failover: ms(30_000), committed: false, terms: 14},
	}
	s := summarize(kills, 10*time.Second, ms(500), ms(75))
	if s.stalls != 2 || s.neverCommitted != 1 {
		t.Errorf("stalls %d, never committed %d; want 2 and 1", s.stalls, s.neverCommitted)
	}
	if s.min != ms(120) || s.p50 != ms(480) || s.max != ms(30_000) || s.maxTerms != 14 || s.meanTerms != 6.5 {
		t.Errorf("figures %+v", s)
	}
	if s.met() {
		t.Error("a run with stalls met its target")
	}
	var out bytes.Buffer
	s.print(&out)
	for _, want := range []string{"stalls (no commit within 10s): 2 (never committed: 1)", "terms per failover: mean 6.50, max 14", "MISSED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary does not say %q:\n%s", want, out.String())
		}
	}
	clean := summarize(kills[:2], 10*time.Second, ms(500), ms(75))
	if !clean.met() || clean.stalls != 0 || clean.verdict() != "met" {
		t.Errorf("a clean run: %+v", clean)
	}
	// A kill over the target while the process could not run raft's timers is not raft's failure.
	starved := summarize([]killResult{kills[0], {leader: "n2", failover: ms(900), committed: true, terms: 2, lag: ms(300)}}, 10*time.Second, ms(500), ms(75))
	if v := starved.verdict(); !strings.HasPrefix(v, "UNKNOWN") {
		t.Errorf("starved kill over the target: verdict %q, want UNKNOWN", v)
	}
	slow := summarize([]killResult{kills[0], {leader: "n2", failover: ms(900), committed: true, terms: 2, lag: ms(10)}}, 10*time.Second, ms(500), ms(75))
	if v := slow.verdict(); v != "MISSED" {
		t.Errorf("a slow failover on a running process: verdict %q, want MISSED", v)
	}
}

func TestGapTrackerFindsTheLongestTimeWithoutACommit(t *testing.T) {
	var g gapTracker
	for _, at := range []time.Duration{time.Second, 1100 * time.Millisecond, 900 * time.Millisecond, 4 * time.Second, 4200 * time.Millisecond} {
		g.observe(at) // out of order completions, as concurrent workers report them
	}
	if got := g.close(5 * time.Second); got != 2900*time.Millisecond {
		t.Errorf("longest gap %v, want 2.9s", got)
	}
	var h gapTracker
	h.observe(time.Second)
	if got := h.close(9 * time.Second); got != 8*time.Second {
		t.Errorf("a run ending in a stall: longest gap %v, want 8s (to the end)", got)
	}
}
