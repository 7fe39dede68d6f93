package results

import (
	"fmt"
	"sort"
	"time"
)

// The phase vocabulary, one definition for the lab (which records these phases) and the checkers (which
// judge them, and rebuild them from the events of a run that recorded none):
//   - "all": the whole run;
//   - "steady": from the start to one request timeout before the first fault, on a whole window (a request
//     sent later may still be in flight when the fault strikes, and a span's end is rounded up to a
//     window); the whole run when it has no fault;
//   - "during:<fault>": from the fault's injection to its heal (the end of the run when never healed);
//   - "after:<fault>": from its heal to the next fault's injection or the end of the run.
//
// A fault injected twice gets "#2" on its second set of names.
const (
	PhaseAll    = "all"
	PhaseSteady = "steady"
)

// StandardPhases returns the phases of a run of the given duration whose fault events (Kind EventFault;
// others are ignored) are events, with requests timing out after timeout (0: no margin before the first
// fault). See the phase vocabulary above.
func StandardPhases(duration, timeout time.Duration, events []Event) []Phase {
	out := []Phase{{Name: PhaseAll, Start: 0, End: duration}}
	var faults []Event
	for _, e := range events {
		if e.Kind == EventFault {
			faults = append(faults, e)
		}
	}
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].At < faults[j].At })
	out = append(out, Phase{Name: PhaseSteady, Start: 0, End: SteadyEnd(duration, timeout, faults)})
	seen := map[string]int{}
	for i, f := range faults {
		seen[f.Name]++
		suffix := ""
		if seen[f.Name] > 1 {
			suffix = fmt.Sprintf("#%d", seen[f.Name])
		}
		until := f.Until
		if until == 0 || until > duration {
			until = duration
		}
		next := duration
		if i+1 < len(faults) {
			next = max(faults[i+1].At, until)
		}
		out = append(out,
			Phase{Name: "during:" + f.Name + suffix, Start: f.At, End: until},
			Phase{Name: "after:" + f.Name + suffix, Start: until, End: next})
	}
	return out
}

// SteadyEnd is where the steady phase ends: one request timeout before the first of faults (sorted by
// time), truncated to a whole second; duration when there is no fault.
func SteadyEnd(duration, timeout time.Duration, faults []Event) time.Duration {
	if len(faults) == 0 {
		return duration
	}
	return max(0, faults[0].At-timeout).Truncate(time.Second)
}
