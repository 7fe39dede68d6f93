package results

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunDirectoryIsWrittenForASyntheticRun(t *testing.T) {
	run, hist := syntheticRun(t)
	if run.Verdict != Fail {
		t.Fatalf("verdict %s, want fail (one assertion failed)", run.Verdict)
	}
	dir := t.TempDir()
	if err := WriteDir(dir, run, hist); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SummaryFile, TimeseriesFile, EventsFile, JUnitFile, ReportFile, HistoryFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", name, err)
		}
	}

	f, err := os.Open(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := ReadSummary(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.Verdict != Fail || back.Seed != 42 || len(back.Assertions) != 4 || back.Total.Requests != 10_000 ||
		back.Phases[1].Latency.P99 != run.Phases[1].Latency.P99 || back.Assertions[2].Evidence[0] != run.Assertions[2].Evidence[0] {
		t.Errorf("summary.json did not round-trip: %+v", back)
	}

	rows, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(filepath.Join(dir, TimeseriesFile))))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(run.Windows) || len(run.Windows) < 20 || rows[0][0] != "start_s" || len(rows[1]) != len(timeseriesHeader) {
		t.Errorf("timeseries.csv has %d rows for %d windows", len(rows), len(run.Windows))
	}

	var suites junitSuites
	if err := xml.Unmarshal(must(os.ReadFile(filepath.Join(dir, JUnitFile))), &suites); err != nil {
		t.Fatal(err)
	}
	s := suites.Suites[0]
	if suites.Tests != 4 || suites.Failures != 1 || suites.Errors != 1 || len(s.Cases) != 4 ||
		s.Cases[2].Failure == nil || !strings.Contains(s.Cases[2].Failure.Body, "window 6s–7s") {
		t.Errorf("junit.xml: %+v", suites)
	}

	hb, err := LoadHistory(filepath.Join(dir, HistoryFile))
	if err != nil || hb.Len() != 10_000 {
		t.Errorf("history.bin: %v, len %d", err, hb.Len())
	}
}

func TestPhasesShowTheFault(t *testing.T) {
	run, _ := syntheticRun(t)
	before, during, after := run.Phases[0], run.Phases[1], run.Phases[2]
	if during.Latency.P99 < 10*before.Latency.P99 || during.Unknown == 0 || before.Unknown != 0 {
		t.Errorf("during: p99 %v unknown %d; before: p99 %v unknown %d", during.Latency.P99, during.Unknown, before.Latency.P99, before.Unknown)
	}
	if after.Latency.P99 > 2*before.Latency.P99 {
		t.Errorf("after the heal p99 %v, before %v: recovery not visible", after.Latency.P99, before.Latency.P99)
	}
}

func TestReportIsSelfContainedAndComplete(t *testing.T) {
	run, _ := syntheticRun(t)
	var buf bytes.Buffer
	if err := WriteReport(&buf, run); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		"zone-failover", `class="verdict fail"`, `id="chart-throughput"`, `id="chart-latency"`, `id="chart-errors"`,
		"zone-down us-east/a", "leader us-east/b", "dns -us-east/a", // fault and marker labels in the charts
		"during zone-down", "window 6s–7s: p99 791ms", "history too long for porcupine",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if n := strings.Count(html, "<svg"); n != 3 {
		t.Errorf("report.html has %d inline SVG charts, want 3", n)
	}
	for _, banned := range []string{"http://", "https://", "<link", "src="} {
		for _, line := range strings.Split(html, "\n") {
			if strings.Contains(line, banned) && !strings.Contains(line, "www.w3.org") {
				t.Errorf("report.html would fetch something when opened (%q): %.120s", banned, line)
				break
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRunDirectoryReadsBack(t *testing.T) {
	dir := t.TempDir()
	run := &Run{ID: "r", Scenario: "s", Verdict: Pass, Duration: 3 * time.Second}
	for i := 0; i < 3; i++ {
		run.Windows = append(run.Windows, Figures{
			Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Requests: 100, OK: 99, Unknown: 1, RequestRate: 100, OKRate: 99, ErrorRate: 0.01, UnknownRate: 0.01,
			Latency: Latency{P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 42 * time.Millisecond, P999: 80 * time.Millisecond, Max: 100 * time.Millisecond},
		})
	}
	if err := WriteDir(dir, run, nil); err != nil {
		t.Fatal(err)
	}
	back, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Windows) != 3 || back.Windows[2].Latency.P99 != 42*time.Millisecond || back.Windows[1].Unknown != 1 || back.Scenario != "s" {
		t.Fatalf("read back %+v", back.Windows)
	}
	if _, err := ReadTimeseries(strings.NewReader("start_s,wrong\n")); err == nil {
		t.Fatal("a file with other columns was accepted")
	}
}
