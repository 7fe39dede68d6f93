package results

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
)

// The report of a failing run on a starved machine says so before anything else: what failed,
// a banner with the saturation, its rule and reasons and that timing verdicts over those
// windows are unknown; the lab's cost in the key figures; the lab-health charts; saturated
// windows shaded on every chart, distinct from fault windows; every event in words.
func TestReportOfASaturatedRun(t *testing.T) {
	run := syntheticBusyRun(t)
	var buf bytes.Buffer
	if err := WriteReport(&buf, run); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	load := run.LabHealth.Load
	if load.Saturated != 5 || load.Windows != 20 || len(load.Reasons) == 0 {
		t.Fatalf("synthetic run: load health %+v, want 5 of 20 windows saturated with reasons", load)
	}
	wants := []string{
		`id="saturated"`, load.SaturatedText(), "are <b>unknown</b>", "Saturated: 6–9 s, 15–17 s",
		"Rule: " + run.LabHealth.Rule, "lab saturated (timing verdicts unknown)",
		`id="lab-health"`, "5 of 20", "900µs", "612 MiB",
		"<b>recovery_time</b>", "<b>p99</b>", // what broke, at the top
		"gateway us-east/a breaker opened after 5 consecutive failures", "gateway us-east/a breaker reopened after a half-open probe failed",
		"gateway us-east/b breaker opened after 5 consecutive failures", // recorded as a Go value
		"ledger leader is now us-east/c", "DNS: us-east back in pay.lab (200 OK)", "restarted gateway eu-west/a",
		"no leader → us-east/b", "leader changed 4× in 14.2–19.6 s", "breakers changed 5× in 6.3–7.5 s", // the strip
	}
	wants = append(wants, load.Reasons...)
	for _, want := range wants {
		if !strings.Contains(html, want) && !strings.Contains(html, escaped(want)) { // markup, or text
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, banned := range []string{"m=+", "{closed", "+0000 UTC"} {
		if strings.Contains(html, banned) {
			t.Errorf("report.html shows a Go value (%q)", banned)
		}
	}
	if i, j := strings.Index(html, `id="saturated"`), strings.Index(html, "<h2>Key figures"); i > j {
		t.Error("the saturation banner comes after the key figures")
	}

	// Every chart but the strip shades both kinds of window; the strip has its own lanes.
	const faultFill, satFill, satHatch = "fill:#E2191B;fill-opacity:0.18824", "fill:#5F5F5F;fill-opacity:0.13333", "stroke:#3F3F3F;stroke-opacity:0.50196"
	charts := strings.Split(html, `<div class="chart" id="chart-`)[1:]
	var ids []string
	for _, c := range charts {
		id, _, _ := strings.Cut(c, `"`)
		ids = append(ids, id)
		if !strings.Contains(c, faultFill) || !strings.Contains(c, satFill) || !strings.Contains(c, satHatch) {
			t.Errorf("chart %s lacks the fault or saturated shading", id)
		}
	}
	if got := strings.Join(ids, " "); got != "events throughput latency errors cpu lag" {
		t.Errorf("charts %s, want events throughput latency errors cpu lag", got)
	}
}

// escaped is s as html/template writes it in element content.
func escaped(s string) string {
	return strings.ReplaceAll(template.HTMLEscapeString(s), "+", "&#43;")
}
