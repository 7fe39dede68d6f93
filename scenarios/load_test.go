package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLibraryScenariosLoad(t *testing.T) {
	names := Library()
	if len(names) == 0 {
		t.Fatal("no shipped scenarios")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s, _, err := LoadNamed(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name {
				t.Fatalf("file %s.yaml holds scenario %q; name and file must agree", name, s.Name)
			}
		})
	}
}

func TestZoneFailoverFields(t *testing.T) {
	s, pos, err := LoadNamed("zone-failover")
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != 20*time.Second || s.Workload.Rate.PerSecond != 2000 || s.Accounts.Count != 1000 {
		t.Fatalf("decoded duration %v rate %v accounts %d", s.Duration, s.Workload.Rate, s.Accounts.Count)
	}
	if len(s.Timeline) != 2 || s.Timeline[0].Fault != "zone-down" || s.Timeline[0].Params["mode"] != "crash" || !s.Timeline[1].IsHeal() {
		t.Fatalf("timeline %+v", s.Timeline)
	}
	if a := s.Assertions[4]; a.Name != "replicas_converge" || a.Params["within"] != "5s" {
		t.Fatalf("assertion %+v", a)
	}
	if got := pos.Of("timeline[0].mode"); got != "scenarios/library/zone-failover.yaml:25:57" {
		t.Fatalf("position of timeline[0].mode = %s", got)
	}
	if s.Topology.Latency.Region != 35*time.Millisecond || float64(s.Topology.Latency.Jitter) != 10 {
		t.Fatalf("latency %+v", s.Topology.Latency)
	}
}

const base = `name: t
duration: 10s
topology:
  regions: [{name: r1, zones: [a, b, c]}]
  ledger: {nodes: [r1/a, r1/b, r1/c], election_timeout: 200ms, heartbeat_timeout: 50ms}
workload: {rate: 100/s}
assertions: [conservation]
`

// TestErrorsArePositioned feeds broken files and checks each problem is reported at its own line:col.
func TestErrorsArePositioned(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level field", base + "colour: blue\n", []string{"t.yaml:8:1: colour: unknown field \"colour\""}},
		{"unknown nested field", strings.Replace(base, "rate: 100/s", "rate: 100/s, burst: 5", 1), []string{"t.yaml:6:25: workload.burst: unknown field"}},
		{"wrong type", strings.Replace(base, "duration: 10s", "duration: [1]", 1), []string{"t.yaml:2:11: duration: cannot unmarshal"}},
		{"bad duration", strings.Replace(base, "duration: 10s", "duration: ten", 1), []string{"t.yaml:2:11: duration:"}},
		{"bad rate", strings.Replace(base, "100/s", "lots/s", 1), []string{"t.yaml:6:18: workload.rate:"}},
		{"unknown zone", strings.Replace(base, "r1/c]", "r1/z]", 1), []string{"t.yaml:5:", "topology.ledger.nodes[2]"}},
		{"two problems", strings.Replace(base, "duration: 10s", "duration: 20m", 1) + "accounts: {count: 1}\n", []string{"t.yaml:2:11: duration: 20m0s, want", "t.yaml:8:", "accounts.count: 1, want 2"}},
		{"heal without fault", base + "timeline:\n  - {at: 1s, heal: zone-down, target: r1/a}\n", []string{"t.yaml:9:", "which no earlier step injected"}},
		{"step outside the run", base + "timeline:\n  - {at: 11s, fault: zone-down, target: r1/a}\n", []string{"timeline[0].at: 11s is outside the run"}},
		{"expect names unknown assertion", base + "expect: {verdict: fail, failing: [no_such]}\n", []string{"expect.failing[0]"}},
		{"syntax error", "name: [unclosed\n", []string{"t.yaml:"}},
		{"empty file", "", []string{"t.yaml:1:1: the file is empty"}},
		{"duplicate key", base + "name: again\n", []string{"t.yaml:8:1: name: key \"name\" appears twice"}},
		{"total money beyond int64", base + "accounts: {count: 1000000, balance: 4611686018427387904}\n", []string{"accounts.balance: 4611686018427387904 × 1000000 accounts exceeds 2^62"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("t.yaml", []byte(tc.yaml))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("want a positioned error, got %v", err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "t.yaml:") {
					t.Errorf("line %q is not file:line:col: message", line)
				}
			}
		})
	}
}

func TestRateForms(t *testing.T) {
	s, _, err := Parse("t.yaml", []byte(strings.Replace(base, "rate: 100/s", "rate: {ramp: {from: 10/s, to: 600/m, over: 5s}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Workload.Rate; r.PerSecond != 10 || r.To != 10 || r.Over != 5*time.Second {
		t.Fatalf("ramp %+v", r)
	}
	s, _, err = Parse("t.yaml", []byte(strings.Replace(base, "rate: 100/s", "rate: {steps: [{rate: 5/s, for: 2s}, {rate: 50/s, for: 3s}]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Workload.Rate; len(r.Steps) != 2 || r.Steps[1].PerSecond != 50 || r.Peak() != 50 {
		t.Fatalf("steps %+v", r)
	}
}
