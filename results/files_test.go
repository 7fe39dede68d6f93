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
	if len(rows) != 1+len(run.Windows) || len(run.Windows) < 20 || rows[0][0] != "start_s" || len(rows[1]) != len(timeseriesHeader)+len(healthHeader)+len(backendHeader) {
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
		`id="chart-events"`, "zone-down us-east/a", // the event strip
		"ledger leader is now us-east/b (term 3)", "DNS: us-east out of pay.lab (503 Service Unavailable)", // the timeline in words
		"during zone-down", "window 6s–7s: p99 791ms", "history too long for porcupine",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if n := strings.Count(html, "<svg"); n != 4 {
		t.Errorf("report.html has %d inline SVG charts, want 4 (events, throughput, latency, errors)", n)
	}
	// No lab health measured: no health charts, no banner, no saturation key.
	for _, absent := range []string{`id="chart-cpu"`, `id="saturated"`, "lab saturated (timing"} {
		if strings.Contains(html, absent) {
			t.Errorf("report.html of a run without lab health has %q", absent)
		}
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

// Lab health travels through timeseries.csv and back; a window without it stays without it, and a
// file from before the health columns still reads.
func TestTimeseriesCarriesLabHealth(t *testing.T) {
	rule := DefaultSaturationRule()
	hot := &Health{SchedLagP99: 25 * time.Millisecond, SchedLagMax: 80 * time.Millisecond, CPU: 1.5, Machine: 1.95, Cores: 2, GCPause: 3 * time.Millisecond}
	rule.Judge(hot, 2000, 0)
	cool := &Health{SchedLagP99: 200 * time.Microsecond, SchedLagMax: time.Millisecond, CPU: 0.4, Machine: 0.5, Cores: 2}
	rule.Judge(cool, 2000, 0)
	windows := []Figures{
		{Start: 0, End: time.Second, Requests: 2000, Health: cool},
		{Start: time.Second, End: 2 * time.Second, Requests: 2000, Health: hot},
		{Start: 2 * time.Second, End: 3 * time.Second, Requests: 2000},
	}
	var buf bytes.Buffer
	if err := WriteTimeseries(&buf, windows); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTimeseries(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 3 || back[0].Health == nil || back[1].Health == nil || back[2].Health != nil {
		t.Fatalf("health did not round-trip: %+v", back)
	}
	if h := back[1].Health; h.Saturated != 1 || h.SchedLagP99 != 25*time.Millisecond || h.Machine != 1.95 || len(h.Reasons) != 3 {
		t.Errorf("saturated window read back as %+v", h)
	}
	if h := back[0].Health; h.Saturated != 0 || h.CPU != 0.4 {
		t.Errorf("healthy window read back as %+v", h)
	}
	agg := HealthOver(back, 0, 0)
	if agg == nil || agg.Windows != 2 || agg.Saturated != 1 || agg.SaturatedText() != "lab saturated in 1 of 2 windows: lower the rate or free the CPU" {
		t.Errorf("HealthOver = %+v", agg)
	}
	// An old file: the first 19 columns only.
	var old bytes.Buffer
	old.WriteString(strings.Join(timeseriesHeader, ",") + "\n")
	old.WriteString("0,1,10,10,0,0,0,10,0,10,10,10,0,0,1,2,3,4,5\n")
	if ws, err := ReadTimeseries(&old); err != nil || len(ws) != 1 || ws[0].Health != nil {
		t.Errorf("old timeseries.csv: %v, %+v", err, ws)
	}
}

// The saturation rule names every limit a window breaks, and none for a healthy one.
func TestSaturationRuleNamesEachLimit(t *testing.T) {
	rule := DefaultSaturationRule()
	for _, c := range []struct {
		h              Health
		requests, late uint64
		want           int
	}{
		{Health{SchedLagP99: time.Millisecond, CPU: 1.0, Machine: 1.0, Cores: 2}, 1000, 0, 0},
		{Health{SchedLagP99: 13 * time.Millisecond, CPU: 1.0, Machine: 1.0, Cores: 2}, 1000, 0, 0}, // a returning node catching up
		{Health{SchedLagP99: 20 * time.Millisecond, CPU: 1.0, Machine: 1.0, Cores: 2}, 1000, 0, 1},
		{Health{SchedLagP99: time.Millisecond, CPU: 1.7, Machine: 1.8, Cores: 2}, 1000, 0, 1},
		{Health{SchedLagP99: time.Millisecond, CPU: 1.0, Machine: 1.0, Cores: 2}, 1000, 49, 0}, // one isolated stall
		{Health{SchedLagP99: time.Millisecond, CPU: 1.0, Machine: 1.0, Cores: 2}, 1000, 80, 0}, // the second a zone crashes
		{Health{SchedLagP99: time.Millisecond, CPU: 1.0, Machine: 1.0, Cores: 2}, 1000, 100, 1},
		{Health{SchedLagP99: time.Second, Machine: 2, Cores: 2}, 1000, 500, 4},
		{Health{}, 0, 0, 0},
		// A neighbour: alone, other processes use ≤ 0.11 core; a compiler beside the lab far more.
		{Health{CPU: 1.0, Machine: 1.1, Cores: 2}, 1000, 0, 0},
		{Health{CPU: 1.0, Machine: 1.3, Cores: 2}, 1000, 0, 1},
		{Health{CPU: 0.2, Machine: 0.6, Cores: 2}, 1000, 0, 0},  // a machine mostly idle
		{Health{CPU: 1.0, Machine: 1.5, Cores: 16}, 1000, 0, 0}, // a large machine: room for both
	} {
		h := c.h
		rule.Judge(&h, c.requests, c.late)
		if len(h.Reasons) != c.want || (h.Saturated == 1) != (c.want > 0) || h.Windows != 1 {
			t.Errorf("Judge(%+v, %d, %d) = saturated %d, reasons %q; want %d reasons", c.h, c.requests, c.late, h.Saturated, h.Reasons, c.want)
		}
	}
}

// TestTimeseriesKeepsBackendFigures: the figures behind the gateways round-trip through timeseries.csv, a
// window without them stays without, and a file written before the columns existed still reads.
func TestTimeseriesKeepsBackendFigures(t *testing.T) {
	wins := []Figures{
		{Start: 0, End: time.Second, Requests: 10, Backend: &Backend{LedgerReads: 7, CacheHits: 3}},
		{Start: time.Second, End: 2 * time.Second, Requests: 10},
	}
	var buf bytes.Buffer
	if err := WriteTimeseries(&buf, wins); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTimeseries(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].Backend == nil || *back[0].Backend != *wins[0].Backend || back[1].Backend != nil {
		t.Fatalf("read back %+v", back)
	}
	// The same file without the backend columns, as written before they existed.
	var old bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		fields := strings.Split(line, ",")
		old.WriteString(strings.Join(fields[:len(fields)-len(backendHeader)], ",") + "\n")
	}
	if back, err := ReadTimeseries(&old); err != nil || len(back) != 2 || back[0].Backend != nil {
		t.Fatalf("a file without backend columns: %v, %+v", err, back)
	}
}
