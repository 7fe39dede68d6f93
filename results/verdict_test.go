package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// The terminal summary fits the terminal: with long names, observations, limits, errors and
// evidence, no line is longer than the width, and no word of the table is lost to the wrapping.
func TestVerdictFitsTheTerminal(t *testing.T) {
	run := syntheticBusyRun(t)
	run.Assertions[2].Evidence = append(run.Assertions[2].Evidence,
		"window 8s–9s: p99 640ms with 31 transfers unknown: 01JD8Y3K5V8Q2W4E6R8T0Y2U4I6O8P0A1S3D5F7G9H1J3K5L7Z9X1C3V5B7N9M (a ulid far longer than a line of any terminal)")
	run.Assertions[0].Expected = Fail // an expected-verdict column appears
	run.Assertions = append(run.Assertions, AssertionResult{Name: "p99_limits_with_a_very_long_name_and_observation", Verdict: Fail, Phase: "during:zone-down",
		Observed: "p99 812ms in 6s–7s, 790ms in 7s–8s, 640ms in 8s–9s, 512ms in 9s–10s, 388ms in 10s–11s, 301ms in 11s–12s and 250ms in 12s–13s, over the limit in 7 of 8 windows",
		Limit:    "< 50ms in every window of the phase, judged only where the lab was not saturated (rule: scheduler lag p99 ≥ 10ms, machine CPU ≥ 90%)"})
	for _, width := range []int{80, 110, 60, 40} {
		var buf bytes.Buffer
		WriteVerdict(&buf, run, "runs/x", width)
		out := buf.String()
		for i, line := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(line); n > width {
				t.Errorf("width %d, line %d has %d columns: %q", width, i+1, n, line)
			}
		}
		words := strings.Join(strings.Fields(out), " ")
		for _, a := range run.Assertions {
			for _, word := range strings.Fields(a.Observed + " " + a.Limit) {
				if len(word) < 20 && !strings.Contains(words, word) { // long words may be broken
					t.Errorf("width %d: %q of %s lost", width, word, a.Name)
				}
			}
		}
		for _, want := range []string{
			"lab health: saturated in 5 of 20 windows", "CPU per op 900µs", "peak RSS 612 MiB",
			"verdict: FAIL", "runs/x/report.html",
			"recovery_time (unknown, expected pass):", "error: lab saturated in 5 of 20 windows",
		} {
			if !strings.Contains(words, want) {
				t.Errorf("width %d: summary lacks %q:\n%s", width, want, out)
			}
		}
		if width >= 80 && !strings.Contains(out, "assertion") {
			t.Errorf("width %d: no table header:\n%s", width, out)
		}
		if testing.Verbose() {
			t.Logf("width %d:\n%s", width, out)
		}
	}
}

// A short run prints its table as before: one line an assertion, columns aligned.
func TestVerdictTableOfShortTexts(t *testing.T) {
	run := &Run{Verdict: Pass, Assertions: []AssertionResult{
		{Name: "conservation", Verdict: Pass, Observed: "sum 100000000", Limit: "= 100000000"},
		{Name: "p99", Verdict: Pass, Observed: "p99 41ms", Limit: "< 50ms"},
	}}
	var buf bytes.Buffer
	WriteVerdict(&buf, run, "runs/x", 80)
	want := `
assertion     verdict  observed       limit
conservation  pass     sum 100000000  = 100000000
p99           pass     p99 41ms       < 50ms

verdict: PASS   (runs/x, report runs/x/report.html)
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestWrapKeepsEveryCharacter(t *testing.T) {
	for _, s := range []string{"", "a", "one two three four five", "abcdefghijklmnopqrstuvwxyz and more", "x " + strings.Repeat("é", 23)} {
		for _, w := range []int{1, 5, 7, 12} {
			lines := wrap(s, w)
			for _, l := range lines {
				if utf8.RuneCountInString(l) > w {
					t.Errorf("wrap(%q, %d): line %q too long", s, w, l)
				}
			}
			if got := strings.ReplaceAll(strings.Join(lines, ""), " ", ""); got != strings.ReplaceAll(s, " ", "") {
				t.Errorf("wrap(%q, %d) = %q: characters lost", s, w, lines)
			}
		}
	}
}

func TestTerminalWidth(t *testing.T) {
	t.Setenv("COLUMNS", "132")
	if got := TerminalWidth(&bytes.Buffer{}); got != 132 {
		t.Errorf("with COLUMNS=132: %d", got)
	}
	t.Setenv("COLUMNS", "")
	if got := TerminalWidth(&bytes.Buffer{}); got != DefaultWidth {
		t.Errorf("not a terminal, no COLUMNS: %d, want %d", got, DefaultWidth)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := TerminalWidth(f); got != DefaultWidth {
		t.Errorf("a regular file: %d, want %d", got, DefaultWidth)
	}
}
