package results

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// TestSuiteFilesAndVerdict: one junit.xml with a suite per scenario (a setup failure as an <error> case),
// an index row per scenario linking its report, and the suite's verdict as run grades one run.
func TestSuiteFilesAndVerdict(t *testing.T) {
	pass := &Run{Scenario: "smoke", Verdict: Pass, Assertions: []AssertionResult{{Name: "conservation", Verdict: Pass}}}
	naive := &Run{Scenario: "lock-naive", Verdict: Pass, Assertions: []AssertionResult{{Name: "conservation", Verdict: Fail, Expected: Fail}}}
	failed := &Run{Scenario: "zone", Verdict: Fail, Assertions: []AssertionResult{{Name: "p99", Verdict: Fail}}}
	entries := []SuiteEntry{
		{Name: "smoke", Run: pass, Dir: "runs/1-smoke", Took: time.Second},
		{Name: "lock-naive", Run: naive, Dir: "runs/2-lock", Rerun: "lab saturated in 2 of 4 windows"},
		{Name: "zone", Run: failed, Dir: "runs/3-zone"},
		{Name: "nosuch", Err: "no scenario \"nosuch\""},
	}
	var j bytes.Buffer
	if err := WriteSuiteJUnit(&j, entries); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(j.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 4 || doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 1 || doc.Suites[3].Cases[0].Error == nil {
		t.Fatalf("junit: %+v", doc)
	}
	var h bytes.Buffer
	if err := WriteSuiteIndex(&h, entries); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="runs/3-zone/report.html"`, "re-run: lab saturated in 2 of 4 windows", "conservation fail;", "p99: fail;", "no scenario &#34;nosuch&#34;"} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, tc := range []struct {
		e    []SuiteEntry
		want string
	}{{entries[:2], "pass"}, {entries, "fail"}, {[]SuiteEntry{entries[0], entries[3]}, "error"},
		{[]SuiteEntry{entries[0], {Name: "u", Run: &Run{Verdict: Undecided}}}, "unknown"}} {
		if got := SuiteVerdict(tc.e); got != tc.want {
			t.Errorf("SuiteVerdict of %d entries = %s, want %s", len(tc.e), got, tc.want)
		}
	}
}
