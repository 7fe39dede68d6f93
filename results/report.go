package results

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportTemplate string

// reportPage is the data of report.html.
type reportPage struct {
	Run    *Run
	Charts []reportChart
	// Problems are the assertions that did not come out as expected, for the top of the page.
	Problems []AssertionResult
	// Health is the lab's health over the load (nil when not measured); Saturated the saturated
	// stretches of the run ("6–9 s, 12–13 s").
	Health    *Health
	Rule      string
	Saturated string
	CPUPerOp  time.Duration
	PeakRSS   int64
	// Events are the run's events in time order; EventsOpen: the timeline table starts
	// unfolded (it is short).
	Events     []Event
	EventsOpen bool
}

// WriteReport writes report.html: one self-contained page (inline CSS, charts as inline SVG
// drawn by gonum/plot, nothing fetched when it opens) that reads at a glance: the verdict and
// what broke it, a banner when the lab itself was saturated, key figures and the lab's health,
// an event strip (faults, saturation, leader, DNS and breaker changes, notes — a lane each)
// above the throughput, latency, error and lab-health charts on one time axis with fault and
// saturated windows shaded, the timeline in words, a per-phase table and the assertion table
// with evidence.
func WriteReport(w io.Writer, r *Run) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"dur":   fmtDuration,
		"pct":   func(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) },
		"bytes": fmtBytes,
		"kind":  func(e Event) EventKind { return e.lane() },
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("write report.html: parse template: %w", err)
	}
	charts, err := renderCharts(r)
	if err != nil {
		return fmt.Errorf("write report.html: %w", err)
	}
	page := reportPage{Run: r, Charts: charts, EventsOpen: len(r.Events) <= 30}
	page.Events = slices.Clone(r.Events)
	slices.SortStableFunc(page.Events, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	for _, a := range r.Assertions {
		if !a.Passed() {
			page.Problems = append(page.Problems, a)
		}
	}
	page.Health = HealthOver(r.Windows, 0, 0)
	if lh := r.LabHealth; lh != nil {
		page.Rule, page.CPUPerOp, page.PeakRSS = lh.Rule, lh.CPUPerOp, lh.PeakRSS
		if lh.Load != nil {
			page.Health = lh.Load
		}
	}
	if page.Rule == "" && page.Health != nil {
		page.Rule = DefaultSaturationRule().String()
	}
	var sat []string
	for _, s := range saturatedSpans(r.Windows) {
		sat = append(sat, secondsSpan(time.Duration(s.from*float64(time.Second)), time.Duration(s.to*float64(time.Second))))
	}
	page.Saturated = strings.Join(sat, ", ")
	if err := tmpl.Execute(w, page); err != nil {
		return fmt.Errorf("write report.html: %w", err)
	}
	return nil
}

// fmtDuration prints a duration with a precision that suits its size.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// fmtBytes prints a size in binary units: "412 MiB".
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n)/unit, 0
	for v >= unit && u < 3 {
		v /= unit
		u++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %ciB", v, "KMGT"[u])
	}
	return fmt.Sprintf("%.0f %ciB", v, "KMGT"[u])
}
