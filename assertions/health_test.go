package assertions_test

import (
	"testing"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// saturate marks window i of in as one in which the lab was short of CPU, and every other
// window as healthy.
func saturate(in *assertions.Input, sat ...int) {
	rule := results.DefaultSaturationRule()
	for i := range in.Windows {
		h := &results.Health{SchedLagP99: 300 * time.Microsecond, Machine: 0.6, CPU: 0.5, Cores: 2}
		for _, s := range sat {
			if s == i {
				h.SchedLagP99, h.Machine = 40*time.Millisecond, 1.99
			}
		}
		rule.Judge(h, in.Windows[i].Requests, in.Windows[i].Late)
		in.Windows[i].Health = h
	}
}

// A timing verdict that rests on a saturated window is unknown with the reason, whether it
// would have passed or failed; one whose windows were healthy is untouched, even when the lab
// was saturated elsewhere in the run.
func TestTimingVerdictsOverSaturatedWindowsAreUnknown(t *testing.T) {
	cases := []struct {
		name   string
		check  string
		params map[string]any
		in     func() *assertions.Input
		sat    []int
		want   results.Verdict
		says   []string
	}{
		{"a failing p99 in a saturated fault window", "p99", map[string]any{"below": "100ms", "phase": "during:zone-down"}, run10, []int{4},
			results.Undecided, []string{"lab saturated in 1 of 2 windows: lower the rate or free the CPU", "would have been fail", "scheduler lag p99 40ms"}},
		{"a passing p99 in a saturated steady window", "p99", map[string]any{"below": "100ms", "phase": "before:zone-down"}, run10, []int{1},
			results.Undecided, []string{"lab saturated in 1 of 4 windows", "would have been pass"}},
		{"saturation outside the judged phase leaves the verdict", "p99", map[string]any{"below": "100ms", "phase": "before:zone-down"}, run10, []int{8},
			results.Pass, nil},
		{"saturation outside the judged phase leaves a failure", "p99", map[string]any{"below": "100ms", "phase": "during:zone-down"}, run10, []int{0, 9},
			results.Fail, nil},
		{"error rate in a saturated window", "error_rate", map[string]any{"below": "1%", "phase": "during:zone-down"}, run10, []int{5},
			results.Undecided, []string{"would have been fail"}},
		{"recovery measured through a saturated window", "recovery_time", map[string]any{"below": "3s"},
			func() *assertions.Input { return successRun(100, 100, 100, 50, 50, 100, 100, 100, 100, 100) }, []int{4},
			results.Undecided, []string{"would have been pass"}},
		{"recovery after the saturated window passes", "recovery_time", map[string]any{"below": "3s"},
			func() *assertions.Input { return successRun(100, 100, 100, 50, 50, 100, 100, 100, 100, 100) }, []int{1, 8},
			results.Pass, nil},
		{"a never-recovered fault with saturation after it", "recovery_time", map[string]any{"below": "3s"},
			func() *assertions.Input { return successRun(100, 100, 100, 50, 50, 50, 50, 50, 50, 50) }, []int{9},
			results.Undecided, []string{"would have been fail"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in()
			saturate(in, c.sat...)
			in.Spans = exact{in.Windows}
			res := mustNew(t, c.check, c.params).Check(in)
			expect(t, res, c.want, c.says...)
			if res.Verdict == results.Undecided && res.Observed == "" {
				t.Errorf("an unknown verdict must keep what was observed for the reader")
			}
		})
	}
}

// Money checkers do not depend on time: a saturated lab leaves their verdicts alone.
func TestMoneyVerdictsIgnoreLabHealth(t *testing.T) {
	h := history(t, tx{key: 1, from: 0, to: 1, amount: 10, kind: outcome.OK})
	in := input(h, ledger("a", tx{key: 1, from: 0, to: 1, amount: 10}))
	in.Windows = run10().Windows
	saturate(in, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	for _, name := range []string{"conservation", "no_double_deduct", "no_negative_balance", "no_lost_ack"} {
		expect(t, mustNew(t, name, nil).Check(in), results.Pass)
	}
}
