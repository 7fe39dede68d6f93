package results

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// The JUnit XML shapes CI systems read (Jenkins, GitLab, GitHub actions reporters).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes junit.xml: one test suite per run, one test case per assertion. A failed
// assertion is a <failure> with its evidence; one that could not decide is an <error>.
func WriteJUnit(w io.Writer, r *Run) error {
	s := junitSuiteFor(r)
	return writeJUnitDoc(w, junitSuites{Name: "paylab", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Suites: []junitSuite{s}})
}

// junitSuiteFor is one run's test suite: one test case per assertion.
func junitSuiteFor(r *Run) junitSuite {
	name := r.Scenario
	if name == "" {
		name = r.ID
	}
	s := junitSuite{
		Name:       name,
		Time:       fmt.Sprintf("%.3f", r.Duration.Seconds()),
		Properties: []junitProperty{{"seed", fmt.Sprint(r.Seed)}, {"verdict", string(r.Verdict)}},
	}
	if r.Replay != "" {
		s.Properties = append(s.Properties, junitProperty{"replay", r.Replay})
	}
	if r.Commit != "" {
		s.Properties = append(s.Properties, junitProperty{"commit", r.Commit})
	}
	if !r.Started.IsZero() {
		s.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}
	for _, a := range r.Assertions {
		c := junitCase{Name: a.Label(), Classname: "paylab." + name, Time: fmt.Sprintf("%.3f", a.Took.Seconds())}
		detail := assertionText(a)
		switch {
		case a.Verdict == Undecided:
			c.Error = &junitMessage{Message: firstNonEmpty(a.Error, "could not decide"), Type: "unknown", Body: detail}
			s.Errors++
		case !a.Passed():
			c.Failure = &junitMessage{Message: fmt.Sprintf("%s: got %s, want %s", a.Name, a.Verdict, expected(a)), Type: string(a.Verdict), Body: detail}
			s.Failures++
		default:
			c.SystemOut = detail
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	return s
}

// writeJUnitDoc writes a junit.xml document.
func writeJUnitDoc(w io.Writer, doc junitSuites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	return nil
}

func expected(a AssertionResult) Verdict {
	if a.Expected == "" {
		return Pass
	}
	return a.Expected
}

func assertionText(a AssertionResult) string {
	var b strings.Builder
	if a.Observed != "" || a.Limit != "" {
		fmt.Fprintf(&b, "observed %s, limit %s", firstNonEmpty(a.Observed, "-"), firstNonEmpty(a.Limit, "-"))
	}
	if a.Phase != "" {
		fmt.Fprintf(&b, " (phase %s)", a.Phase)
	}
	for _, e := range a.Evidence {
		fmt.Fprintf(&b, "\n%s", e)
	}
	if a.Error != "" {
		fmt.Fprintf(&b, "\nerror: %s", a.Error)
	}
	return strings.TrimSpace(b.String())
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
