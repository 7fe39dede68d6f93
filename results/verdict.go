package results

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultWidth is the width WriteVerdict fits when the output is not a terminal and $COLUMNS
// is not set.
const DefaultWidth = 80

// TerminalWidth is the width the terminal summary of a run should fit: $COLUMNS when it holds
// a positive number, else the width of the terminal w writes to, else DefaultWidth.
func TerminalWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		if n := ttyWidth(f.Fd()); n > 0 {
			return n
		}
	}
	return DefaultWidth
}

// WriteVerdict writes what a person reads on the terminal after a run, within width columns:
// the assertion table (names, observed values and limits wrapped inside their columns, so a
// long observation makes its row taller, never the table wider), each assertion that did not
// come out as expected with its error and first evidence, one line of lab health (saturated
// windows, CPU per operation, peak RSS) and the verdict with the run's directory and report.
// Lines fit width except a file path too long to fit by itself, which is printed whole so it
// can be copied.
func WriteVerdict(w io.Writer, run *Run, dir string, width int) {
	width = max(width, 20)
	fmt.Fprintln(w)
	writeTable(w, run.Assertions, width)
	for _, a := range run.Assertions {
		if a.Verdict == Pass && a.Passed() {
			continue
		}
		fmt.Fprintln(w)
		writeWrapped(w, fmt.Sprintf("%s (%s, expected %s):", a.Label(), a.Verdict, orPass(a.Expected)), "", "  ", width)
		if a.Error != "" {
			writeWrapped(w, "error: "+a.Error, "  ", "    ", width)
		}
		for i, e := range a.Evidence {
			if i == 5 {
				writeWrapped(w, fmt.Sprintf("… %d more lines in summary.json", len(a.Evidence)-5), "  ", "    ", width)
				break
			}
			writeWrapped(w, e, "  ", "    ", width)
		}
	}
	if line := healthLine(run); line != "" {
		fmt.Fprintln(w)
		writeWrapped(w, line, "", "  ", width)
	}
	if run.Load != nil && run.Load.Limited {
		writeWrapped(w, "load generator: "+run.Load.LimitReason, "", "  ", width)
	}
	verdict := "verdict: " + strings.ToUpper(string(run.Verdict))
	report := filepath.Join(dir, ReportFile)
	if line := fmt.Sprintf("%s   (%s, report %s)", verdict, dir, report); textWidth(line) <= width {
		fmt.Fprintf(w, "\n%s\n", line)
		return
	}
	fmt.Fprintf(w, "\n%s\n  run:    %s\n  report: %s\n", verdict, dir, report)
}

func orPass(v Verdict) Verdict {
	if v == "" {
		return Pass
	}
	return v
}

// healthLine is the one line of lab health: "lab health: saturated in 5 of 20 windows (timing
// verdicts over them are unknown: lower the rate or free the CPU); CPU per op 900µs; peak RSS
// 612 MiB". Empty when the run measured no lab health.
func healthLine(run *Run) string {
	h := HealthOver(run.Windows, 0, 0)
	var parts []string
	if lh := run.LabHealth; lh != nil {
		if lh.Load != nil {
			h = lh.Load
		}
		if lh.CPUPerOp > 0 {
			parts = append(parts, "CPU per op "+fmtDuration(lh.CPUPerOp))
		}
		if lh.PeakRSS > 0 {
			parts = append(parts, "peak RSS "+fmtBytes(lh.PeakRSS))
		}
	}
	switch {
	case h == nil && len(parts) == 0:
		return ""
	case h == nil:
	case h.Saturated > 0:
		parts = append([]string{fmt.Sprintf("saturated in %d of %d windows (timing verdicts over them are unknown: lower the rate or free the CPU)", h.Saturated, h.Windows)}, parts...)
	default:
		parts = append([]string{fmt.Sprintf("not saturated (0 of %d windows)", h.Windows)}, parts...)
	}
	return "lab health: " + strings.Join(parts, "; ")
}

// writeTable writes the assertion table within width: observed and limit share what the
// name and verdict columns leave, each wrapped in its column.
func writeTable(w io.Writer, as []AssertionResult, width int) {
	const gap = 2
	expected := false
	for _, a := range as {
		expected = expected || a.Expected != ""
	}
	head := []string{"assertion", "verdict", "observed", "limit"}
	if expected {
		head = []string{"assertion", "verdict", "expected", "observed", "limit"}
	}
	rows := [][]string{head}
	for _, a := range as {
		r := []string{a.Label(), string(a.Verdict), a.Observed, a.Limit}
		if expected {
			r = []string{a.Label(), string(a.Verdict), string(orPass(a.Expected)), a.Observed, a.Limit}
		}
		rows = append(rows, r)
	}
	n := len(head)
	natural := make([]int, n) // the widest cell of each column
	for _, r := range rows {
		for i, c := range r {
			natural[i] = max(natural[i], textWidth(c))
		}
	}
	widths := append([]int(nil), natural...)
	// The name column takes at most a quarter of the line; the others before observed and limit
	// are short words.
	widths[0] = min(natural[0], max(12, width/4))
	fixed := gap * (n - 1)
	for _, c := range widths[:n-2] {
		fixed += c
	}
	rest := width - fixed
	obs, lim := natural[n-2], natural[n-1]
	if obs+lim > rest {
		// Shares in proportion to the longest texts, so the two wrap to similar heights.
		lim = max(rest*lim/(obs+lim), min(lim, 10))
		obs = rest - lim
	}
	widths[n-2], widths[n-1] = obs, lim
	if obs < 8 || lim < 5 {
		writeStacked(w, rows, width)
		return
	}
	for _, r := range rows {
		cells := make([][]string, n)
		height := 1
		for i, c := range r {
			cells[i] = wrap(c, widths[i])
			height = max(height, len(cells[i]))
		}
		for l := range height {
			var b strings.Builder
			for i := range r {
				var s string
				if l < len(cells[i]) {
					s = cells[i][l]
				}
				b.WriteString(s)
				if i < n-1 {
					b.WriteString(strings.Repeat(" ", widths[i]-textWidth(s)+gap))
				}
			}
			fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		}
	}
}

// writeStacked writes the table one assertion a block, for a line too narrow for columns.
func writeStacked(w io.Writer, rows [][]string, width int) {
	head := rows[0]
	for _, r := range rows[1:] {
		title := r[0] + "  " + r[1]
		if len(r) == 5 {
			title += "  (expected " + r[2] + ")"
		}
		writeWrapped(w, title, "", "  ", width)
		for i := len(r) - 2; i < len(r); i++ {
			if r[i] != "" {
				writeWrapped(w, head[i]+": "+r[i], "  ", "    ", width)
			}
		}
	}
}

// writeWrapped writes s wrapped within width, its first line indented by first, the others by
// rest.
func writeWrapped(w io.Writer, s, first, rest string, width int) {
	for i, l := range wrapIndent(s, width-textWidth(first), width-textWidth(rest)) {
		indent := rest
		if i == 0 {
			indent = first
		}
		fmt.Fprintln(w, indent+l)
	}
}

// wrap breaks s into lines of at most width columns at spaces, breaking words longer than a
// line. An empty s is one empty line.
func wrap(s string, width int) []string { return wrapIndent(s, width, width) }

// wrapIndent is wrap with a first line of firstWidth columns and the others of restWidth.
func wrapIndent(s string, firstWidth, restWidth int) []string {
	var lines []string
	var cur strings.Builder
	curW := 0
	limit := func() int {
		if len(lines) == 0 {
			return max(firstWidth, 1)
		}
		return max(restWidth, 1)
	}
	flush := func() {
		lines, curW = append(lines, cur.String()), 0
		cur.Reset()
	}
	for _, word := range strings.Fields(s) {
		for textWidth(word) > limit() { // too long for any line: fill this one, carry the rest
			room := limit() - curW
			if curW > 0 {
				room-- // the space
			}
			if curW > 0 && room < 4 {
				flush()
				continue
			}
			head, tail := splitAt(word, room)
			if curW > 0 {
				cur.WriteByte(' ')
			}
			cur.WriteString(head)
			word = tail
			flush()
		}
		ww := textWidth(word)
		if curW > 0 && curW+1+ww > limit() {
			flush()
		}
		if curW > 0 {
			cur.WriteByte(' ')
			curW++
		}
		cur.WriteString(word)
		curW += ww
	}
	if curW > 0 || len(lines) == 0 {
		flush()
	}
	return lines
}

// splitAt splits s after n runes.
func splitAt(s string, n int) (string, string) {
	i := 0
	for j := range s {
		if i == n {
			return s[:j], s[j:]
		}
		i++
	}
	return s, ""
}

// textWidth is the columns s takes on a terminal: one a rune (the reports use no wide
// characters).
func textWidth(s string) int { return utf8.RuneCountInString(s) }
