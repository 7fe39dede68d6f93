package lab

import (
	"testing"
	"time"
)

// TestAssertionsAskHowLongToWaitForConvergence: the wait before the export is what the assertions ask for
// (replicas_converge's within, the longest when several ask), and the lab's default when none asks.
func TestAssertionsAskHowLongToWaitForConvergence(t *testing.T) {
	for _, tc := range []struct {
		assertions string
		want       time.Duration
	}{
		{"assertions: [conservation]\n", defaultConvergeWithin},
		{"assertions:\n  - replicas_converge\n", 5 * time.Second},
		{"assertions:\n  - replicas_converge: {within: 60s}\n", time.Minute},
		{"assertions:\n  - replicas_converge: {within: 2s}\n  - replicas_converge: {id: slow, within: 30s}\n", 30 * time.Second},
	} {
		_, _, plan, err := Load(writeScenario(t, checkBase+tc.assertions))
		if err != nil {
			t.Fatalf("%q: %v", tc.assertions, err)
		}
		if got := plan.convergeWithin(); got != tc.want {
			t.Errorf("%q: the lab waits %v, want %v", tc.assertions, got, tc.want)
		}
	}
}
