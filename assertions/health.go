package assertions

import (
	"fmt"
	"strings"
	"time"

	"paylab/results"
)

// judging notes a stretch of the run a timing checker's verdict rests on, so that the catalogue
// can hold the verdict against the lab's health over exactly that stretch.
func (v *view) judging(from, to time.Duration) {
	if to <= from {
		to = from + time.Nanosecond
	}
	v.judged = append(v.judged, span{from: from, to: to})
}

// labSaturation returns the lab's health over the windows the current checker judged (every
// window when it noted none), or nil when no window carries health figures or none was
// saturated. A window counts once even when several judged spans cover it.
func (v *view) labSaturation() *results.Health {
	spans := v.judged
	if len(spans) == 0 {
		spans = []span{{from: 0, to: 1<<63 - 1}}
	}
	var ws []results.Figures
	for _, w := range v.in.Windows {
		for _, s := range spans {
			if w.Start < s.to && w.End > s.from {
				ws = append(ws, w)
				break
			}
		}
	}
	h := results.HealthOver(ws, 0, 0)
	if h == nil || h.Saturated == 0 {
		return nil
	}
	return h
}

// undecideIfSaturated applies the lab-health rule to a timing verdict: a pass or fail that
// rests on windows in which the lab itself was short of CPU measured the lab, not the system,
// so it becomes unknown with the reason; what was observed stays in the result for the reader.
func undecideIfSaturated(res results.AssertionResult, h *results.Health) results.AssertionResult {
	if h == nil || res.Verdict == results.Undecided {
		return res
	}
	was := res.Verdict
	res.Verdict = results.Undecided
	res.Error = fmt.Sprintf("%s (would have been %s)", h.SaturatedText(), was)
	ev := []string{"lab saturated in the judged windows: " + strings.Join(h.Reasons, "; ")}
	res.Evidence = append(ev, res.Evidence...)
	return res
}
