package assertions_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

func TestCatalogueListsEveryAssertionOfTheDesign(t *testing.T) {
	want := []string{"no_double_deduct", "conservation", "no_negative_balance", "no_lost_ack", "replicas_converge",
		"linearizable", "reads_linearizable", "p99", "p999", "error_rate", "recovery_time", "failover_time", "leader_changes", "event_count"}
	if got := assertions.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range want {
		d, ok := assertions.Lookup(n)
		if !ok || d.Name != n || d.Summary == "" {
			t.Errorf("Lookup(%q) = %+v, %v", n, d, ok)
		}
		for _, p := range d.Params {
			if p.Doc == "" {
				t.Errorf("%s: parameter %s has no doc", n, p.Name)
			}
		}
	}
	if _, ok := assertions.Lookup("no_such"); ok {
		t.Error("Lookup found an assertion that does not exist")
	}
}

func TestNewValidatesParameters(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		err    string // "" for valid
	}{
		{"conservation", nil, ""},
		{"replicas_converge", map[string]any{"within": "5s"}, ""},
		{"p99", map[string]any{"phase": "steady", "below": "50ms"}, ""},
		{"p999", map[string]any{"phase": "during:zone-down", "below": "1s", "per": "window"}, ""},
		{"error_rate", map[string]any{"phase": "steady", "below": "0.1%"}, ""},
		{"error_rate", map[string]any{"below": 0.001}, ""},
		{"recovery_time", map[string]any{"below": "3s", "from": "heal"}, ""},
		{"linearizable", map[string]any{"max_ops": 2000}, ""},
		{"failover_time", map[string]any{"below": "2s"}, ""},

		{"no_such", nil, `unknown assertion "no_such"`},
		{"conservation", map[string]any{"within": "5s"}, `conservation: unknown parameter "within" (accepted: none)`},
		{"p99", map[string]any{"below": "fast"}, `p99: below: "fast" is not a duration`},
		{"p99", map[string]any{"below": 50}, `p99: below: 50 is not a duration (write it with a unit`},
		{"p99", map[string]any{"phase": "steady"}, `p99: parameter "below" is required`},
		{"p99", map[string]any{"below": "-5ms"}, `p99: below: "-5ms" is negative`},
		{"p99", map[string]any{"below": "5ms", "phase": "during:"}, `p99: phase: "during:" names no fault`},
		{"p99", map[string]any{"below": "5ms", "phase": 3}, `p99: phase: 3 is not text`},
		{"p99", map[string]any{"below": "5ms", "per": "minute"}, `p99: per: "minute" is not one of phase, window`},
		{"error_rate", map[string]any{"below": "lots"}, `error_rate: below: "lots" is not a percentage`},
		{"error_rate", map[string]any{"below": 5}, `error_rate: below: 5 is outside 0%..100%`},
		{"error_rate", map[string]any{"below": "150%"}, `outside 0%..100%`},
		{"recovery_time", map[string]any{"below": "3s", "from": "dawn"}, `recovery_time: from: "dawn" is not one of start, heal`},
		{"recovery_time", map[string]any{"below": "3s", "stable": 0}, `recovery_time: stable: 0, want at least 1`},
		{"linearizable", map[string]any{"max_ops": 1.5}, `linearizable: max_ops: 1.5 is not a whole number`},
		{"linearizable", map[string]any{"timeout": "0s"}, `linearizable: timeout: 0s, want more than 0`},
	}
	for _, c := range cases {
		_, err := assertions.New(c.name, c.params)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("New(%s, %v): %v", c.name, c.params, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("New(%s, %v) = %v, want an error containing %q", c.name, c.params, err, c.err)
		}
	}
}

// fixed is a checker from outside the catalogue with a set answer.
type fixed struct {
	name    string
	verdict results.Verdict
	panics  bool
}

func (f fixed) Name() string { return f.name }
func (f fixed) Check(*assertions.Input) results.AssertionResult {
	if f.panics {
		panic("checker bug")
	}
	return results.AssertionResult{Name: f.name, Verdict: f.verdict}
}

func TestCheckAllCombinesFailOverUnknownOverPass(t *testing.T) {
	cases := []struct {
		verdicts []results.Verdict
		want     results.Verdict
	}{
		{nil, results.Pass},
		{[]results.Verdict{results.Pass, results.Pass}, results.Pass},
		{[]results.Verdict{results.Pass, results.Undecided}, results.Undecided},
		{[]results.Verdict{results.Undecided, results.Fail, results.Pass}, results.Fail},
	}
	for _, c := range cases {
		var cs []assertions.Checker
		for i, v := range c.verdicts {
			cs = append(cs, fixed{name: string(rune('a' + i)), verdict: v})
		}
		got, verdict := assertions.CheckAll(&assertions.Input{}, cs)
		if verdict != c.want || len(got) != len(cs) {
			t.Errorf("CheckAll(%v) = %v with %d results, want %v", c.verdicts, verdict, len(got), c.want)
		}
	}
}

func TestACheckerThatPanicsIsUnknownNotACrash(t *testing.T) {
	got, verdict := assertions.CheckAll(&assertions.Input{}, []assertions.Checker{fixed{name: "buggy", panics: true}, fixed{name: "fine", verdict: results.Pass}})
	if verdict != results.Undecided || got[0].Verdict != results.Undecided || !strings.Contains(got[0].Error, "checker bug") || got[1].Verdict != results.Pass {
		t.Fatalf("verdict %v, results %+v", verdict, got)
	}
}

func TestACatalogueCheckerThatPanicsIsUnknown(t *testing.T) {
	// A replica that claims to be readable but whose accounts map is nil would be caught by
	// Readable; a Spanner that panics is outside our control and must not crash the run.
	in := &assertions.Input{Start: epoch, Windows: []results.Figures{{Name: "w0", Start: 0, End: time.Second, Requests: 1}},
		Phases: []results.Phase{{Name: "odd", Start: 0, End: time.Second}}, Spans: panicky{}}
	res := mustNew(t, "p99", map[string]any{"below": "1s", "phase": "odd"}).Check(in)
	expect(t, res, results.Undecided, "checker panicked: recorder gone")
}

type panicky struct{}

func (panicky) Span(string, time.Duration, time.Duration) results.Figures { panic("recorder gone") }

func TestCheckAllSkipsChecksWhoseAssumptionFailed(t *testing.T) {
	// No replica could be read and the history is malformed: every money and history check is
	// unknown and says which assumption failed; a limit on figures still runs.
	h := history(t, tx{key: 1, from: 0, to: 1, amount: 5, kind: outcome.OK, sent: ms(50), done: ms(10)})
	in := input(h, assertions.Replica{Node: "ledger:a", Live: true, Err: errString("connection refused")})
	in.Total = results.Figures{Requests: 100, OK: 100, Start: 0, End: time.Second}
	var cs []assertions.Checker
	for _, n := range []string{"conservation", "no_lost_ack", "linearizable", "error_rate"} {
		params := map[string]any(nil)
		if n == "error_rate" {
			params = map[string]any{"below": "1%"}
		}
		cs = append(cs, mustNew(t, n, params))
	}
	got, verdict := assertions.CheckAll(in, cs)
	if verdict != results.Undecided {
		t.Errorf("verdict %v, want unknown", verdict)
	}
	expect(t, got[0], results.Undecided, "skipped: assumption failed: no replica could be read (ledger:a: connection refused)")
	expect(t, got[1], results.Undecided, "skipped: assumption failed: no replica could be read")
	expect(t, got[2], results.Undecided, "skipped: assumption failed: 1 malformed operations in the history")
	expect(t, got[3], results.Pass)
	for _, r := range got {
		if r.Name == "" || r.Took < 0 {
			t.Errorf("result without a name or time: %+v", r)
		}
	}
}

func TestADroppedHistoryMakesLinearizabilityUnknown(t *testing.T) {
	h := results.NewHistory(epoch, 1)
	h.Add(results.Op{OpDetail: results.OpDetail{Type: results.OpRead}, Sent: ms(1), Done: ms(2)}, "")
	h.Add(results.Op{OpDetail: results.OpDetail{Type: results.OpRead}, Sent: ms(1), Done: ms(2)}, "")
	res := mustNew(t, "linearizable", nil).Check(input(h, ledger("ledger:a")))
	expect(t, res, results.Undecided, "the history dropped 1 operations")
}
