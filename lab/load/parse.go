package load

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The text forms of a mix and of the open-model schedules, as `paylab load` takes them.

// ParseMix reads operation shares: "transfer=0.9,read=0.08,stale=0.02" (stale_read is stale).
func ParseMix(s string) (Mix, error) {
	var m Mix
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || x < 0 {
			return m, fmt.Errorf("%q is not name=share", part)
		}
		switch k {
		case "transfer":
			m.Transfer = x
		case "read":
			m.Read = x
		case "stale", "stale_read":
			m.StaleRead = x
		default:
			return m, fmt.Errorf("unknown operation %q (want transfer, read, stale)", k)
		}
	}
	return m, nil
}

// ParseRamp reads "FROM:TO" requests per second, a linear ramp over the given span.
func ParseRamp(s string, over time.Duration) (LinearPacer, error) {
	from, to, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseFloat(from, 64)
	b, err2 := strconv.ParseFloat(to, 64)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 || a+b == 0 {
		return LinearPacer{}, fmt.Errorf("want FROM:TO requests per second, e.g. 100:1000")
	}
	return LinearPacer{Start: a, End: b, Over: over}, nil
}

// ParseSteps reads "RATE:DURATION,…" (e.g. "100:5s,1000:10s"): each rate held for its duration.
func ParseSteps(s string) (StepsPacer, error) {
	var p StepsPacer
	for part := range strings.SplitSeq(s, ",") {
		r, d, ok := strings.Cut(strings.TrimSpace(part), ":")
		rate, err1 := strconv.ParseFloat(r, 64)
		dur, err2 := time.ParseDuration(d)
		if !ok || err1 != nil || err2 != nil || rate < 0 || dur <= 0 {
			return p, fmt.Errorf("step %q is not RATE:DURATION (e.g. 500:5s)", part)
		}
		p.Steps = append(p.Steps, Step{Rate: rate, For: dur})
	}
	return p, nil
}
