package lab

import (
	"bytes"
	"strings"
	"testing"

	"paylab/results"
)

// TestSuiteAnnotations: under GitHub Actions each assertion not as expected is one ::error:: line, its text
// escaped as workflow commands want (no raw newline or percent); an expected failure is not annotated.
func TestSuiteAnnotations(t *testing.T) {
	var b bytes.Buffer
	annotate(&b, results.SuiteEntry{Name: "zone", Run: &results.Run{Assertions: []results.AssertionResult{
		{Name: "p99", Verdict: results.Fail, Observed: "p99 400ms\nworst window", Limit: "< 300ms (100%)"},
		{Name: "conservation", Verdict: results.Fail, Expected: results.Fail},
		{Name: "no_lost_ack", Verdict: results.Pass},
	}}})
	annotate(&b, results.SuiteEntry{Name: "nosuch", Err: "no scenario"})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 ||
		lines[0] != "::error title=paylab zone: p99::fail (want pass): observed p99 400ms%0Aworst window, limit < 300ms (100%25)" ||
		lines[1] != "::error title=paylab nosuch::setup failed: no scenario" {
		t.Fatalf("annotations:\n%s", b.String())
	}
}
