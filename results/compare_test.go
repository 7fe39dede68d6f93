package results

import (
	"math"
	"testing"
	"time"
)

// TestCompareRatiosAndVerdictChanges: figures line up with B/A ratios (NaN when A is 0), assertions match by
// label, and a changed verdict is listed.
func TestCompareRatiosAndVerdictChanges(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	a := &Run{Total: Figures{Latency: Latency{P99: 100 * time.Millisecond}}, LabHealth: &LabHealth{CPUPerOp: 400 * time.Microsecond},
		Assertions: []AssertionResult{{Name: "p99", Verdict: Pass, Value: v(0.17)}, {Name: "recovery_time", Verdict: Pass, Value: v(0)}}}
	b := &Run{Total: Figures{Latency: Latency{P99: 150 * time.Millisecond}}, LabHealth: &LabHealth{CPUPerOp: 200 * time.Microsecond},
		Assertions: []AssertionResult{{Name: "p99", Verdict: Fail, Value: v(0.34)}, {Name: "recovery_time", Verdict: Pass, Value: v(1)}}}
	rows, changed := Compare(a, b)
	got := map[string]float64{}
	for _, r := range rows {
		got[r.Figure] = r.Ratio
	}
	if got["total_p99"] != 1.5 || got["cpu_per_op"] != 0.5 || got["p99"] != 2 || !math.IsNaN(got["recovery_time"]) {
		t.Fatalf("ratios %v", got)
	}
	if len(changed) != 1 || changed[0] != "p99: pass → fail" {
		t.Fatalf("verdict changes %v", changed)
	}
}
