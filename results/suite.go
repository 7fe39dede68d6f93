package results

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// SuiteEntry is one scenario of a suite (`paylab suite`): the run it ended with (nil when it could not
// be set up: Err says why), where its run directory is relative to the suite's directory, whether it was
// run a second time (a timing verdict unknown on a saturated lab may be re-run once; money, ack and
// convergence verdicts never are), and its wall time including any re-run.
type SuiteEntry struct {
	Name  string
	Run   *Run
	Dir   string
	Err   string
	Rerun string // why it was re-run; "" when it was not
	Took  time.Duration
}

// Verdict is the entry's verdict: the run's, or "error" for a scenario that could not be set up.
func (e SuiteEntry) Verdict() string {
	if e.Run == nil {
		return "error"
	}
	return string(e.Run.Verdict)
}

// SuiteVerdict combines a suite's entries as `paylab run` grades one run: fail when any scenario failed,
// else error when any could not be set up, else unknown when any could not be decided, else pass.
func SuiteVerdict(entries []SuiteEntry) string {
	var failed, errored, unknown bool
	for _, e := range entries {
		switch {
		case e.Run == nil:
			errored = true
		case e.Run.Verdict == Fail:
			failed = true
		case e.Run.Verdict == Undecided:
			unknown = true
		}
	}
	switch {
	case failed:
		return string(Fail)
	case errored:
		return "error"
	case unknown:
		return string(Undecided)
	}
	return string(Pass)
}

// WriteSuiteJUnit writes one junit.xml for a suite: a test suite per scenario, a test case per assertion
// (as WriteJUnit), and for a scenario that could not be set up a suite with one <error> case.
func WriteSuiteJUnit(w io.Writer, entries []SuiteEntry) error {
	doc := junitSuites{Name: "paylab suite"}
	for _, e := range entries {
		var s junitSuite
		if e.Run != nil {
			s = junitSuiteFor(e.Run)
			if e.Rerun != "" {
				s.Properties = append(s.Properties, junitProperty{"rerun", e.Rerun})
			}
		} else {
			s = junitSuite{Name: e.Name, Tests: 1, Errors: 1, Cases: []junitCase{{Name: "setup", Classname: "paylab." + e.Name,
				Error: &junitMessage{Message: "setup failed", Type: "setup", Body: e.Err}}}}
		}
		s.Time = fmt.Sprintf("%.3f", e.Took.Seconds())
		doc.Suites = append(doc.Suites, s)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	return writeJUnitDoc(w, doc)
}

var suiteIndex = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>paylab suite: {{.Verdict}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}.unknown{color:#9a6700}.error{color:#cf222e}</style></head>
<body><h1>paylab suite: <span class="{{.Verdict}}">{{.Verdict}}</span></h1>
<p>{{len .Entries}} scenarios, {{.Took}}.</p>
<table><tr><th>scenario</th><th>verdict</th><th>expected to fail</th><th>not as expected</th><th>time</th><th>report</th></tr>
{{range .Entries}}<tr><td>{{.Name}}</td><td class="{{.Verdict}}">{{.Verdict}}{{if .Rerun}} (re-run: {{.Rerun}}){{end}}</td>
<td>{{if .Run}}{{range .Run.Assertions}}{{if .Expected}}{{.Label}} {{.Expected}}; {{end}}{{end}}{{end}}</td>
<td>{{if .Run}}{{range .Run.Assertions}}{{if not .Passed}}{{.Label}}: {{.Verdict}}; {{end}}{{end}}{{else}}{{.Err}}{{end}}</td>
<td>{{printf "%.0fs" .Took.Seconds}}</td><td>{{if .Dir}}<a href="{{.Dir}}/report.html">report</a>{{end}}</td></tr>
{{end}}</table></body></html>
`))

// WriteSuiteIndex writes index.html for a suite: its verdict and a row per scenario linking its report.
func WriteSuiteIndex(w io.Writer, entries []SuiteEntry) error {
	var took time.Duration
	for _, e := range entries {
		took += e.Took
	}
	if err := suiteIndex.Execute(w, struct {
		Verdict string
		Entries []SuiteEntry
		Took    time.Duration
	}{SuiteVerdict(entries), entries, took.Round(time.Second)}); err != nil {
		return fmt.Errorf("write suite index.html: %w", err)
	}
	return nil
}
