package results

import (
	"fmt"
	"math"
	"time"
)

// CompareRow is one figure of two runs side by side: A's value, B's, and B/A (NaN when A is 0 or either
// is missing). Lower is better for every figure compared, so a ratio above 1 is B doing worse.
type CompareRow struct {
	Figure string
	A, B   float64
	Unit   string
	Ratio  float64
}

// Compare lines up the figures two runs share — the whole run's latency percentiles and error rate (total_…), the lab's CPU per
// operation and peak RSS, and every assertion's observed value (recovery, failover, p99 of a phase…) —
// and lists the assertions whose verdict changed from a to b ("p99: pass → fail"). Assertions are matched
// by label (name, or id when the scenario gave one).
func Compare(a, b *Run) (rows []CompareRow, changed []string) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	add := func(name, unit string, x, y float64) {
		r := CompareRow{Figure: name, A: x, B: y, Unit: unit, Ratio: math.NaN()}
		if x != 0 && !math.IsNaN(x) && !math.IsNaN(y) {
			r.Ratio = y / x
		}
		rows = append(rows, r)
	}
	add("total_p50", "ms", ms(a.Total.Latency.P50), ms(b.Total.Latency.P50))
	add("total_p99", "ms", ms(a.Total.Latency.P99), ms(b.Total.Latency.P99))
	add("total_p999", "ms", ms(a.Total.Latency.P999), ms(b.Total.Latency.P999))
	add("total_error_rate", "%", 100*a.Total.ErrorRate, 100*b.Total.ErrorRate)
	if a.LabHealth != nil && b.LabHealth != nil {
		add("cpu_per_op", "µs", float64(a.LabHealth.CPUPerOp)/1e3, float64(b.LabHealth.CPUPerOp)/1e3)
		add("peak_rss", "MiB", float64(a.LabHealth.PeakRSS)/(1<<20), float64(b.LabHealth.PeakRSS)/(1<<20))
	}
	bs := map[string]AssertionResult{}
	for _, r := range b.Assertions {
		bs[r.Label()] = r
	}
	for _, ra := range a.Assertions {
		rb, ok := bs[ra.Label()]
		if !ok {
			continue
		}
		if ra.Value != nil && rb.Value != nil {
			add(ra.Label(), "", *ra.Value, *rb.Value)
		}
		if ra.Verdict != rb.Verdict {
			changed = append(changed, fmt.Sprintf("%s: %s → %s", ra.Label(), ra.Verdict, rb.Verdict))
		}
	}
	return rows, changed
}
