package assertions_test

import (
	"fmt"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/results"
)

// win is one-second window i with n requests, of which failed failed, and the given tail.
func win(i int, n, failed uint64, p99, p999 time.Duration) results.Figures {
	return results.Figures{
		Name: fmt.Sprintf("w%d", i), Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
		Requests: n, OK: n - failed, Failed: failed, ErrorRate: float64(failed) / float64(max(n, 1)),
		Latency: results.Latency{Count: int64(n), P99: p99, P999: p999},
	}
}

// run10 is a ten-second run with zone-down from 4s to 6s: fast and clean outside the fault,
// slow and failing inside it.
func run10() *assertions.Input {
	in := &assertions.Input{Start: epoch, Events: []results.Event{
		{At: 4 * time.Second, Until: 6 * time.Second, Kind: results.EventFault, Name: "zone-down", Target: "us-east/a"},
	}}
	for i := 0; i < 10; i++ {
		w := win(i, 1000, 0, ms(20), ms(40))
		if i == 4 || i == 5 {
			w = win(i, 1000, 300, ms(800), ms(1500))
		}
		in.Windows = append(in.Windows, w)
	}
	return in
}

// exact is a Spanner that claims the window-summed figures are exact (as a recorder's are).
type exact struct{ ws []results.Figures }

func (e exact) Span(name string, from, to time.Duration) results.Figures {
	f := results.Figures{Name: name, Start: from, End: to}
	for _, w := range e.ws {
		if w.Start < to && w.End > from {
			f.Requests += w.Requests
			f.Failed += w.Failed
			f.Latency.P99 = max(f.Latency.P99, w.Latency.P99)
			f.Latency.P999 = max(f.Latency.P999, w.Latency.P999)
		}
	}
	if f.Requests > 0 {
		f.ErrorRate = float64(f.Failed) / float64(f.Requests)
	}
	return f
}

func TestLatencyAndErrorLimitsPerPhase(t *testing.T) {
	cases := []struct {
		name   string
		check  string
		params map[string]any
		prep   func(in *assertions.Input)
		want   results.Verdict
		says   []string
	}{
		// "steady" is results.StandardPhases' (the lab's): the start to the first fault (no request
		// timeout given), not the stretch after the heal.
		{"steady p99 before the fault is fast", "p99", map[string]any{"phase": "steady", "below": "50ms"}, nil, results.Pass,
			[]string{"steady: p99 ≤ 20ms over 4000 requests"}},
		{"p99 during the fault breaks the limit", "p99", map[string]any{"phase": "during:zone-down", "below": "50ms"},
			func(in *assertions.Input) { in.Spans = exact{in.Windows} }, results.Fail,
			[]string{"during zone-down us-east/a (4s–6s): p99 800ms over 2000 requests", "window 4s–5s: p99 800ms"}},
		{"an upper bound from windows cannot fail a phase", "p99", map[string]any{"phase": "during:zone-down", "below": "50ms"}, nil, results.Undecided,
			[]string{"upper bound summed from windows"}},
		{"recorded phases are used as the lab names them", "p99", map[string]any{"phase": "during:zone-down", "below": "50ms"},
			func(in *assertions.Input) {
				in.Phases = []results.Phase{{Name: "before", End: 4 * time.Second}, {Name: "during zone-down", Start: 4 * time.Second, End: 6 * time.Second}, {Name: "after", Start: 6 * time.Second, End: 10 * time.Second}}
				in.PhaseFigures = []results.Figures{exact{in.Windows}.Span("before", 0, 4*time.Second), exact{in.Windows}.Span("during zone-down", 4*time.Second, 6*time.Second), exact{in.Windows}.Span("after", 6*time.Second, 10*time.Second)}
			}, results.Fail, []string{"during zone-down (4s–6s): p99 800ms"}},
		{"p999 before the fault", "p999", map[string]any{"phase": "before:zone-down", "below": "50ms"}, nil, results.Pass, []string{"p999 ≤ 40ms"}},
		{"per window finds the one slow second", "p99", map[string]any{"phase": "after", "below": "50ms", "per": "window"},
			func(in *assertions.Input) { in.Windows[8] = win(8, 1000, 0, ms(70), ms(90)) }, results.Fail,
			[]string{"windows over the limit: 1", "window w8 (8s–9s): p99 70ms"}},
		{"per window skips windows below min_requests", "p99", map[string]any{"phase": "after", "below": "50ms", "per": "window", "min_requests": 10},
			func(in *assertions.Input) { in.Windows[8] = win(8, 3, 0, ms(70), ms(90)) }, results.Pass, nil},
		{"error rate in steady state", "error_rate", map[string]any{"phase": "steady", "below": "0.1%"}, nil, results.Pass, nil},
		{"error rate during the fault", "error_rate", map[string]any{"phase": "during", "below": "0.1%"}, nil, results.Fail,
			[]string{"error rate 30% (600 failed + 0 unknown of 2000)"}},
		{"error rate over the whole run from totals", "error_rate", map[string]any{"below": "5%"},
			func(in *assertions.Input) {
				in.Total = results.Figures{Name: "total", End: 10 * time.Second, Requests: 10000, Failed: 600, ErrorRate: 0.06}
			}, results.Fail, []string{"all (0s–10s): error rate 6%"}},
		{"a fault the run did not have", "p99", map[string]any{"phase": "during:dns-down", "below": "50ms"}, nil, results.Undecided,
			[]string{`no fault named "dns-down" in the run (faults: zone-down us-east/a)`}},
		{"a phase with no requests", "p99", map[string]any{"phase": "after", "below": "50ms"},
			func(in *assertions.Input) { in.Windows = in.Windows[:5] }, results.Undecided, []string{`no requests in phase "after"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := run10()
			if c.prep != nil {
				c.prep(in)
			}
			expect(t, mustNew(t, c.check, c.params).Check(in), c.want, c.says...)
		})
	}
}
