package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"paylab/results"
)

// limitCheck is the shared shape of p99, p999 and error_rate: a value per span (or per window
// of it) held against a ceiling.
type limitCheck struct {
	name        string
	phase       string
	perWindow   bool
	minRequests uint64
	limit       string
	// value returns the figure, its text, whether it breaks the limit, and whether a breach
	// can be trusted (false for an upper bound).
	value func(f results.Figures, exact bool) (score float64, text string, breach, trusted bool)
	// seconds says the score is a duration in nanoseconds, reported as seconds in the result's Value.
	seconds bool
}

func validatePhase(name, sel string) error {
	kind, fault, named := strings.Cut(sel, ":")
	switch {
	case sel == "":
		return fmt.Errorf("%s: phase: empty", name)
	case named && fault == "" && (kind == "before" || kind == "during" || kind == "after"):
		return fmt.Errorf("%s: phase: %q names no fault after the colon", name, sel)
	case sel == "steady:" || strings.HasPrefix(sel, "steady:"):
		return fmt.Errorf("%s: phase: %q: steady takes no fault", name, sel)
	}
	return nil
}

func buildPercentile(name string, pick func(results.Latency) time.Duration) func(p *params) (checkFunc, error) {
	return func(p *params) (checkFunc, error) {
		if err := validatePhase(name, p.text("phase")); err != nil {
			return nil, err
		}
		below := p.duration("below")
		lc := &limitCheck{
			name: name, phase: p.text("phase"), perWindow: p.text("per") == "window", minRequests: uint64(p.count("min_requests")),
			limit: "< " + below.String(), seconds: true,
			value: func(f results.Figures, exact bool) (float64, string, bool, bool) {
				d := pick(f.Latency)
				text := fmt.Sprintf("%s %s over %d requests", name, d, f.Requests)
				if !exact {
					text = fmt.Sprintf("%s ≤ %s over %d requests (upper bound from windows)", name, d, f.Requests)
				}
				return float64(d), text, d >= below, exact
			},
		}
		return lc.check, nil
	}
}

func buildErrorRate(p *params) (checkFunc, error) {
	if err := validatePhase("error_rate", p.text("phase")); err != nil {
		return nil, err
	}
	below := p.fraction("below")
	lc := &limitCheck{
		name: "error_rate", phase: p.text("phase"), perWindow: p.text("per") == "window", minRequests: uint64(p.count("min_requests")),
		limit: "< " + pct(below),
		value: func(f results.Figures, _ bool) (float64, string, bool, bool) {
			text := fmt.Sprintf("error rate %s (%d failed + %d unknown of %d)", pct(f.ErrorRate), f.Failed, f.Unknown, f.Requests)
			return f.ErrorRate, text, f.ErrorRate >= below, true // counts add up exactly, even from windows
		},
	}
	return lc.check, nil
}

func pct(f float64) string { return fmt.Sprintf("%.3g%%", f*100) }

// maxWorstWindows bounds the windows named as the worst inside a failing span.
const maxWorstWindows = 3

func (lc *limitCheck) check(v *view) results.AssertionResult {
	spans, err := v.resolvePhase(lc.phase)
	if err != nil {
		return undecided(lc.name, err)
	}
	t := &limitTally{lc: lc, breaches: &violations{what: "spans over the limit"}}
	if lc.perWindow {
		t.breaches.what = "windows over the limit"
	}
	for _, s := range spans {
		v.judging(s.from, s.to)
		if lc.perWindow {
			for _, w := range v.windowsIn(s) {
				t.judge(w, true, "window "+w.Name)
			}
			continue
		}
		f, exact := v.figures(s)
		before := t.breaches.count
		t.judge(f, exact, s.name)
		if t.breaches.count > before {
			t.worstWindows(v.windowsIn(s))
		}
	}
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.name
	}
	return t.result(strings.Join(capList(names, 3), ", "))
}

// limitTally is a limit check's findings over the spans (or windows) it judges.
type limitTally struct {
	lc                *limitCheck
	breaches          *violations
	untrusted, judged int
	worst             float64
	worstText         string
	windows           []string // the worst windows inside each failing span
}

// judge holds one span's (or window's) figures against the limit; too few requests are not judged.
func (t *limitTally) judge(f results.Figures, exact bool, label string) {
	if f.Requests == 0 || f.Requests < t.lc.minRequests {
		return
	}
	t.judged++
	score, text, breach, trusted := t.lc.value(f, exact)
	if t.judged == 1 || score > t.worst {
		t.worst, t.worstText = score, label+": "+text
	}
	if !breach {
		return
	}
	if !trusted {
		t.untrusted++
		return
	}
	t.breaches.add(fmt.Sprintf("%s (%s–%s): %s", label, at(f.Start), at(f.End), text), score)
}

// worstWindows points at the moments inside a failing span that drove it over.
func (t *limitTally) worstWindows(ws []results.Figures) {
	sort.SliceStable(ws, func(i, j int) bool {
		a, _, _, _ := t.lc.value(ws[i], true)
		b, _, _, _ := t.lc.value(ws[j], true)
		return a > b
	})
	for i := 0; i < len(ws) && i < maxWorstWindows; i++ {
		_, text, _, _ := t.lc.value(ws[i], true)
		t.windows = append(t.windows, fmt.Sprintf("  window %s–%s: %s", at(ws[i].Start), at(ws[i].End), text))
	}
}

// result is the verdict: a trusted breach fails; nothing judged, or a breach only by an upper bound,
// is unknown.
func (t *limitTally) result(phase string) results.AssertionResult {
	lc := t.lc
	res := results.AssertionResult{Limit: lc.limit, Phase: phase, Observed: t.worstText}
	if t.judged > 0 {
		v := t.worst
		if lc.seconds {
			v = t.worst / float64(time.Second)
		}
		res.Value = &v
	}
	res.Evidence = append(t.breaches.lines(), t.windows...)
	switch {
	case t.breaches.count > 0:
		res.Verdict = results.Fail
	case t.judged == 0:
		res.Verdict, res.Error = results.Undecided, fmt.Sprintf("no requests in phase %q to judge", lc.phase)
	case t.untrusted > 0:
		res.Verdict = results.Undecided
		res.Error = fmt.Sprintf("%d spans are over the limit by an upper bound summed from windows; exact figures need the recorder (Input.Spans)", t.untrusted)
	default:
		res.Verdict = results.Pass
	}
	return res
}
