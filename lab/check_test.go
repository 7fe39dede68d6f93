package lab

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"paylab/scenarios"
)

const checkBase = `name: t
duration: 10s
topology:
  regions: [{name: r1, zones: [a, b, c]}]
  ledger: {nodes: [r1/a, r1/b, r1/c], election_timeout: 200ms, heartbeat_timeout: 50ms}
workload: {rate: 100/s}
`

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExpectedFailuresAreMarkedByID: of two p99 entries, only the one whose id expect names is expected
// to fail.
func TestExpectedFailuresAreMarkedByID(t *testing.T) {
	_, _, plan, err := Load(writeScenario(t, checkBase+`timeline:
  - {at: 2s, fault: zone-down, target: r1/a}
  - {at: 5s, heal: zone-down, target: r1/a}
assertions:
  - p99: {id: p99-steady, phase: steady, below: 50ms}
  - p99: {id: p99-during, phase: "during:zone-down", below: 1ms}
  - conservation
expect: {verdict: fail, failing: [p99-during]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, false}; !slices.Equal(plan.expected, want) {
		t.Errorf("expected failures %v, want %v", plan.expected, want)
	}
	if want := []string{"p99-steady", "p99-during", ""}; !slices.Equal(plan.ids, want) {
		t.Errorf("ids %v, want %v", plan.ids, want)
	}
}

// TestLoadRefusesWhatTheLabWould: configuration the ledger or a gateway would refuse at start is refused
// when the scenario is loaded, at the line:col of what caused it.
func TestLoadRefusesWhatTheLabWould(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(checkBase, "heartbeat_timeout: 50ms}", "heartbeat_timeout: 50ms}\n  gateways: {cache: sometimes}", 1) + "assertions: [conservation]\n",
			`t.yaml:6:21: topology.gateways.cache: "sometimes", want "off", "safe" or "naive"`},
		{strings.Replace(checkBase, "election_timeout: 200ms, heartbeat_timeout: 50ms", "election_timeout: 4ms, heartbeat_timeout: 2ms", 1) + "assertions: [conservation]\n",
			"topology.ledger: the ledger refuses these raft timeouts"},
		{checkBase + "ledger: {trailing_logs: 0, snapshot_threshold: 0}\nassertions: [conservation]\n",
			"ledger: the ledger refuses these settings"},
	} {
		_, _, _, err := Load(writeScenario(t, tc.body))
		var perr *scenarios.Error
		if !errors.As(err, &perr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load: %v; want a positioned error containing %q", err, tc.want)
		}
	}
}
