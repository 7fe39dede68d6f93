package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"

	"paylab/assertions"
)

func mustParse(t *testing.T, body string) *Scenario {
	t.Helper()
	s, _, err := Parse("t.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseErr(t *testing.T, body string) string {
	t.Helper()
	_, _, err := Parse("t.yaml", []byte(body))
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("want a positioned error, got %v", err)
	}
	return err.Error()
}

// TestZeroIsAValueNotUnset: a field the file sets to 0 keeps 0 (or is refused when 0 is not allowed); only a
// field the file leaves out takes its default (issue 10).
func TestZeroIsAValueNotUnset(t *testing.T) {
	s := mustParse(t, base+"warmup: 0s\ndrain: 0s\naccounts: {count: 10, balance: 0}\nledger: {trailing_logs: 0}\n")
	if s.Warmup != 0 || s.Drain != 0 || s.Accounts.Balance != 0 || s.Accounts.Count != 10 {
		t.Errorf("warmup %v drain %v balance %d count %d, want 0 0 0 10", s.Warmup, s.Drain, s.Accounts.Balance, s.Accounts.Count)
	}
	if s.Ledger.TrailingLogs == nil || *s.Ledger.TrailingLogs != 0 || s.Ledger.SnapshotThreshold != nil {
		t.Errorf("ledger settings %+v, want trailing_logs 0 and no snapshot_threshold", s.Ledger)
	}
	d := mustParse(t, base)
	if d.Warmup != 2*time.Second || d.Accounts.Balance != 1_000_000 || d.Workload.Timeout != 2*time.Second || d.Workload.Mix != (Mix{Transfer: 1}) {
		t.Errorf("defaults: warmup %v balance %d timeout %v mix %+v", d.Warmup, d.Accounts.Balance, d.Workload.Timeout, d.Workload.Mix)
	}
	// A mix the file writes replaces the default whole.
	if m := mustParse(t, strings.Replace(base, "rate: 100/s", "rate: 100/s, mix: {read: 1}", 1)).Workload.Mix; m != (Mix{Read: 1}) {
		t.Errorf("mix {read: 1} decoded as %+v", m)
	}
	// Zeros that are not allowed are refused, not replaced by the default.
	for _, tc := range []struct{ edit, want string }{
		{strings.Replace(base, "rate: 100/s", "rate: 100/s, timeout: 0s", 1), "workload.timeout: 0s, want more than 0"},
		{strings.Replace(base, "rate: 100/s", "rate: 100/s, max_connections: 0", 1), "workload.max_connections: 0, want 1"},
		{strings.Replace(base, "rate: 100/s", "rate: 100/s, amount: {min: 0, max: 5}", 1), "workload.amount: min 0 max 5"},
		{strings.Replace(base, "rate: 100/s", "rate: 100/s, mix: {transfer: 0}", 1), "workload.mix: shares must be ≥ 0 and not all 0"},
		{base + "accounts: {count: 0}\n", "accounts.count: 0, want 2"},
	} {
		if got := parseErr(t, tc.edit); !strings.Contains(got, tc.want) {
			t.Errorf("error %q lacks %q", got, tc.want)
		}
	}
}

// TestAssertionIDs: two entries of one assertion carry ids, and expect names the one that must fail.
func TestAssertionIDs(t *testing.T) {
	withTwo := strings.Replace(base, "assertions: [conservation]\n", `assertions:
  - conservation
  - p99: {id: p99-all, below: 50ms}
  - p99: {id: p99-steady, phase: steady, below: 5ms}
`, 1)
	s := mustParse(t, withTwo+"expect: {verdict: fail, failing: [p99-steady]}\n")
	if a := s.Assertions[2]; a.Name != "p99" || a.ID != "p99-steady" || a.Key() != "p99-steady" || a.Params["id"] != nil || a.Params["phase"] != "steady" {
		t.Fatalf("assertion %+v", a)
	}
	if s.Assertions[0].Key() != "conservation" {
		t.Fatalf("an entry without id answers to its name, got %q", s.Assertions[0].Key())
	}
	for _, tc := range []struct{ body, want string }{
		{withTwo + "expect: {verdict: fail, failing: [p99-stedy]}\n", `t.yaml:11:35: expect.failing[0]: "p99-stedy" is not the id of one of the scenario's assertions`},
		{withTwo + "expect: {verdict: fail, failing: [p99-stedy]}\n", "did you mean p99-steady?"},
		{strings.Replace(withTwo, "p99-all", "p99-steady", 1), `t.yaml:9:15: assertions[1].p99.id: id "p99-steady" is used by 2 entries`},
		{strings.Replace(withTwo, "id: p99-all, ", "", 1) + "  - p99: {below: 9ms}\nexpect: {verdict: fail, failing: [p99]}\n", `2 assertions answer to "p99"; give each an id:`},
		{strings.Replace(withTwo, "id: p99-all", "id: [x]", 1), "t.yaml:9:15: assertions[1].p99.id: id [x]: want"},
	} {
		if got := parseErr(t, tc.body); !strings.Contains(got, tc.want) {
			t.Errorf("error %q lacks %q", got, tc.want)
		}
	}
}

// TestPhasesAreCheckedAgainstTheTimeline: an assertion's phase must be one the timeline produces.
func TestPhasesAreCheckedAgainstTheTimeline(t *testing.T) {
	timeline := "timeline:\n  - {at: 1s, fault: zone-down, target: r1/a}\n  - {at: 5s, heal: zone-down, target: r1/a}\n"
	ok := []string{"all", "steady", "during", "after:zone-down", "during:zone-down r1/a", "during:zone-down@r1/a", "before:zone-down"}
	for _, ph := range ok {
		body := strings.Replace(base, "assertions: [conservation]\n", "assertions:\n  - p99: {phase: \""+ph+"\", below: 50ms}\n", 1) + timeline
		if _, _, err := Parse("t.yaml", []byte(body)); err != nil {
			t.Errorf("phase %q refused: %v", ph, err)
		}
	}
	body := strings.Replace(base, "assertions: [conservation]\n", "assertions:\n  - p99: {phase: \"during:zone-dwn\", below: 50ms}\n  - recovery_time: {below: 3s, fault: zone-dow}\n", 1) + timeline
	got := parseErr(t, body)
	for _, w := range []string{`t.yaml:8:18: assertions[0].p99.phase: p99: phase "during:zone-dwn" is not a phase`, "did you mean during:zone-down?",
		`t.yaml:9:39: assertions[1].recovery_time.fault: recovery_time: no fault "zone-dow"`, "did you mean zone-down?"} {
		if !strings.Contains(got, w) {
			t.Errorf("error %q lacks %q", got, w)
		}
	}
	// Without faults, only all and steady exist.
	if got := parseErr(t, strings.Replace(base, "assertions: [conservation]\n", "assertions:\n  - p99: {phase: during, below: 50ms}\n", 1)); !strings.Contains(got, `phase "during" is not a phase`) {
		t.Errorf("during without faults: %q", got)
	}
}

// TestUnknownNamesGetSuggestions: misspelled fields, faults, parameters and assertions say what was meant.
func TestUnknownNamesGetSuggestions(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(base, "duration: 10s", "duraton: 10s", 1), `t.yaml:2:1: duraton: unknown field "duraton"`},
		{strings.Replace(base, "duration: 10s", "duraton: 10s", 1), "did you mean duration?"},
		{strings.Replace(base, "rate: 100/s", "rate: 100/s, mix: {raed: 1}", 1), `t.yaml:6:31: workload.mix.raed: unknown field "raed"`},
		{strings.Replace(base, "[conservation]", "[conservaton]", 1), "did you mean conservation?"},
		{base + "timeline:\n  - {at: 1s, fault: latency, target: r1, latency: 5ms, toxcity: 0.5}\n  - {at: 2s, heal: latency, target: r1}\n", "t.yaml:9:56: timeline[0].toxcity: latency: unknown parameter \"toxcity\""},
		{base + "timeline:\n  - {at: 1s, heal: zone-dwn, target: r1/a}\n", `t.yaml:9:20: timeline[0].heal: unknown fault "zone-dwn"`},
		{base + "expect: {verdict: fail, failng: [x]}\n", `t.yaml:8:25: expect.failng: unknown field "failng" (known: verdict, failing; did you mean failing?)`},
	} {
		if got := parseErr(t, tc.body); !strings.Contains(got, tc.want) {
			t.Errorf("error %q lacks %q", got, tc.want)
		}
	}
}

// TestAllProblemsInOnePass: problems the walker finds (unknown field, bad value) and problems found after
// decoding (ranges, the timeline, catalogues) come together, and a refused value causes no follow-on.
func TestAllProblemsInOnePass(t *testing.T) {
	body := strings.Replace(base, "duration: 10s", "duration: soon", 1) + "colour: blue\naccounts: {count: 1}\ntimeline:\n  - {at: 1s, fault: zone-dwn, target: r1/a}\n  - {at: 2s, heal: zone-down, target: r1/a}\n"
	got := parseErr(t, body)
	for _, w := range []string{"t.yaml:2:11: duration:", `t.yaml:8:1: colour: unknown field`, "t.yaml:9:", "accounts.count: 1, want 2", `t.yaml:11:21: timeline[0].fault: unknown fault "zone-dwn"`} {
		if !strings.Contains(got, w) {
			t.Errorf("error %q lacks %q", got, w)
		}
	}
	if strings.Contains(got, "want more than 0") || strings.Contains(got, "no earlier step injected") {
		t.Errorf("follow-on problems reported:\n%s", got)
	}
}

// TestNoAssertionTakesAParameterCalledID: id is the scenario's name for an entry, so no assertion of the
// catalogue may use it as a parameter of its own.
func TestNoAssertionTakesAParameterCalledID(t *testing.T) {
	for _, name := range assertions.Names() {
		d, _ := assertions.Lookup(name)
		for _, p := range d.Params {
			if p.Name == "id" {
				t.Errorf("assertion %s takes a parameter called id, which the scenario format reserves", name)
			}
		}
	}
}
