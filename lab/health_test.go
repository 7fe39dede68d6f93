package lab

import (
	"testing"
	"time"

	"paylab/lab/load"
	"paylab/results"
)

// The sampler's windows are judged against the requests each window was due: a window whose
// sends were never made (a stalled generator) is saturated even with an idle scheduler, windows
// measured past the last request are added so their health is on record, and the load's CPU is
// divided over the requests sent.
func TestJudgeHealthCountsMissedSendsAndKeepsEmptyWindows(t *testing.T) {
	healthy := results.Health{Windows: 1, Cores: 2, CPU: 0.4, Machine: 0.5, SchedLagP99: 200 * time.Microsecond, CPUSeconds: 0.4}
	hot := healthy
	hot.Machine, hot.SchedLagP99 = 1.99, 30*time.Millisecond
	run := &results.Run{
		Duration: 4 * time.Second,
		Load:     &results.LoadFigures{Requests: 2500},
		Windows: []results.Figures{
			{Start: 0, End: time.Second, Requests: 1000},
			{Start: time.Second, End: 2 * time.Second, Requests: 1000, Late: 200},
			{Start: 2 * time.Second, End: 3 * time.Second, Requests: 500},
		},
	}
	hw := []results.Health{healthy, healthy, healthy, hot}
	lh := judgeHealth(run, hw, 2500*time.Millisecond, dueIn(load.ConstantPacer{Rate: 1000}))
	if len(run.Windows) != 4 || run.Windows[3].Requests != 0 || run.Windows[3].Start != 3*time.Second {
		t.Fatalf("windows %+v: the fourth, measured but empty, must be kept", run.Windows)
	}
	want := []int{0, 1, 1, 1} // healthy; 20% late; half its sends missed; a starved machine
	for i, w := range run.Windows {
		if w.Health == nil || w.Health.Saturated != want[i] {
			t.Errorf("window %d health %+v, want saturated=%d", i, w.Health, want[i])
		}
	}
	if lh.Load == nil || lh.Load.Saturated != 3 || lh.Load.Windows != 4 || run.Total.Health != lh.Load {
		t.Errorf("load health %+v", lh.Load)
	}
	if lh.CPUPerOp != time.Millisecond || lh.Rule == "" {
		t.Errorf("cpu per op %v (want 1ms), rule %q", lh.CPUPerOp, lh.Rule)
	}
}
