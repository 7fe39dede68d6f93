package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// killResult is what one leader kill cost.
type killResult struct {
	leader string
	// failover runs from the kill to the completion of the first transfer sent after it that committed;
	// when none committed within the give-up bound it is that bound and committed is false.
	failover  time.Duration
	committed bool
	// lag is the largest scheduler lag of this process while the failover was measured.
	lag time.Duration
	// terms is how many raft terms the failover used: 1 is a clean election, more are split votes or
	// leaders that stepped down again before anything committed.
	terms uint64
}

// failoverSummary is the figures of a failover benchmark; every stall is a figure, never an abort.
type failoverSummary struct {
	kills                     int
	min, p50, p90, p99, max   time.Duration
	stalls                    int // kills with no commit within the stall bound
	neverCommitted            int // kills with no commit within the give-up bound
	meanTerms                 float64
	maxTerms                  uint64
	longestGap                time.Duration // longest time with no committed transfer at all, over the whole run
	steadyTerms               uint64        // terms that began while no kill was being measured (step-downs)
	stallBound, targetBound   time.Duration
	starvedLag                time.Duration
	overTarget, overStarved   int
	maxLag                    time.Duration
	attemptsPerCall           float64
	late, missed              uint64
	limited                   string
	starvedShare              float64
	backgroundP99             time.Duration
	bgOK, bgFailed, bgUnknown uint64
}

// summarize computes the failover figures. Quantiles are nearest-rank over the kills.
//
// A kill over the target during which this process's scheduler lag exceeded starvedLag (the lease: raft's
// own timers were late by more than it) is counted as starved: it measured the machine, not raft.
func summarize(kills []killResult, stallBound, target, starvedLag time.Duration) failoverSummary {
	s := failoverSummary{kills: len(kills), stallBound: stallBound, targetBound: target, starvedLag: starvedLag}
	if len(kills) == 0 {
		return s
	}
	times := make([]time.Duration, len(kills))
	var terms uint64
	for i, k := range kills {
		times[i] = k.failover
		if !k.committed {
			s.neverCommitted++
		}
		if !k.committed || k.failover > stallBound {
			s.stalls++
		}
		terms += k.terms
		s.maxTerms = max(s.maxTerms, k.terms)
		if k.failover > target || !k.committed {
			s.overTarget++
			if k.lag > starvedLag {
				s.overStarved++
			}
		}
	}
	s.meanTerms = float64(terms) / float64(len(kills))
	slices.Sort(times)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(times))+0.999999) - 1
		return times[max(0, min(i, len(times)-1))]
	}
	s.min, s.p50, s.p90, s.p99, s.max = times[0], q(0.5), q(0.9), q(0.99), times[len(times)-1]
	return s
}

// met reports whether the run met its target: no stall — no kill without a commit within the stall bound
// and no time without any commit longer than it, also between kills — and p99 within the bound.
func (s failoverSummary) met() bool {
	return s.kills > 0 && s.stalls == 0 && s.longestGap <= s.stallBound && s.p99 <= s.targetBound
}

// verdict is met, MISSED, or UNKNOWN when every kill over the target happened while the process was starved
// (scheduler lag over the lease) and nothing stalled between kills: the machine, not raft, was measured.
func (s failoverSummary) verdict() string {
	switch {
	case s.met():
		return "met"
	case s.overTarget > 0 && s.overStarved == s.overTarget && s.longestGap <= s.stallBound:
		return fmt.Sprintf("UNKNOWN — all %d kills over the target ran with this process starved (scheduler lag over %s)", s.overTarget, s.starvedLag)
	}
	return "MISSED"
}

func (s failoverSummary) print(w io.Writer) {
	fmt.Fprintf(w, "failover over %d kills: min %s  p50 %s  p90 %s  p99 %s  max %s\n",
		s.kills, ms(s.min), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max))
	fmt.Fprintf(w, "stalls (no commit within %s): %d (never committed: %d)  longest gap with no commit: %s\n",
		s.stallBound, s.stalls, s.neverCommitted, ms(s.longestGap))
	fmt.Fprintf(w, "terms per failover: mean %.2f, max %d  (1 = one clean election)  leader changes with no kill: %d\n",
		s.meanTerms, s.maxTerms, s.steadyTerms)
	fmt.Fprintf(w, "scheduler lag (a %s sleep woken late): max %s; %.1f%% of samples over %s\n", lagTick, ms(s.maxLag), 100*s.starvedShare, lagStarved)
	fmt.Fprintf(w, "background transfers: ok %d  failed %d  unknown %d  p99 %s  HTTP attempts per transfer %.2f\n",
		s.bgOK, s.bgFailed, s.bgUnknown, ms(s.backgroundP99), s.attemptsPerCall)
	if s.late > 0 || s.missed > 0 {
		fmt.Fprintf(w, "background sends late %d, missed %d (%s)\n", s.late, s.missed, s.limited)
	}
	fmt.Fprintf(w, "kills over the target: %d, of them with the process starved (scheduler lag over %s): %d\n", s.overTarget, s.starvedLag, s.overStarved)
	fmt.Fprintf(w, "target (no stall over %s, p99 ≤ %s): %s\n", s.stallBound, s.targetBound, s.verdict())
}
