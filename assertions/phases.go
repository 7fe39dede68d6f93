package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"paylab/results"
)

// span is a stretch of the run to judge.
type span struct {
	name     string
	from, to time.Duration
	fig      *results.Figures // the recorded figures, when the span is a recorded phase
}

// faults returns the run's fault events in time order.
func (v *view) faults() []results.Event {
	var out []results.Event
	for _, e := range v.in.Events {
		if e.Kind == results.EventFault {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// faultEnd is when a fault stopped biting: its heal, or the end of the run when never healed.
func (v *view) faultEnd(e results.Event) time.Duration {
	if e.Until > e.At {
		return e.Until
	}
	return max(v.end(), e.At)
}

// matchesFault reports whether a selector names a fault: by name ("zone-down"), by label
// ("zone-down us-east/a") or by name:target ("zone-down:us-east/a" is not used: ':' separates
// the selector).
func matchesFault(e results.Event, name string) bool {
	return e.Name == name || e.Label() == name || e.Name+"@"+e.Target == name
}

// recordedPhase finds a recorded phase by exact name, then with ':' read as a space (the lab
// names phases "during zone-down"), then as a prefix ("during zone-down us-east/a").
func (v *view) recordedPhase(sel string) []span {
	alt := strings.Replace(sel, ":", " ", 1)
	for _, try := range []func(string) bool{
		func(n string) bool { return n == sel },
		func(n string) bool { return n == alt },
		func(n string) bool { return strings.HasPrefix(n, alt+" ") },
	} {
		var out []span
		for i, p := range v.in.Phases {
			if try(p.Name) {
				out = append(out, span{name: p.Name, from: p.Start, to: p.End, fig: v.phaseFigures(i, p)})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func (v *view) phaseFigures(i int, p results.Phase) *results.Figures {
	pf := v.in.PhaseFigures
	if i < len(pf) && pf[i].Name == p.Name {
		return &pf[i]
	}
	for j := range pf {
		if pf[j].Name == p.Name {
			return &pf[j]
		}
	}
	return nil
}

// resolvePhase turns a phase selector into the spans it covers: a recorded phase when one
// matches, otherwise spans computed from the fault events.
func (v *view) resolvePhase(sel string) ([]span, error) {
	end := v.end()
	if sel == "all" {
		if v.in.Total.Requests > 0 {
			t := v.in.Total
			return []span{{name: "all", from: 0, to: max(end, t.End), fig: &t}}, nil
		}
		return []span{{name: "all", from: 0, to: end}}, nil
	}
	if got := v.recordedPhase(sel); len(got) > 0 {
		return got, nil
	}
	faults := v.faults()
	kind, fault, named := strings.Cut(sel, ":")
	var fs []results.Event
	for _, f := range faults {
		if !named || matchesFault(f, fault) {
			fs = append(fs, f)
		}
	}
	switch kind {
	case "steady":
		if named {
			break
		}
		return v.steady(faults, end), nil
	case "before", "during", "after":
		if named && len(fs) == 0 {
			return nil, fmt.Errorf("phase %q: no fault named %q in the run (faults: %s)", sel, fault, faultNames(faults))
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("phase %q: the run had no faults", sel)
		}
		switch kind {
		case "before":
			return []span{{name: sel, from: 0, to: fs[0].At}}, nil
		case "after":
			last := time.Duration(0)
			for _, f := range fs {
				last = max(last, v.faultEnd(f))
			}
			return []span{{name: sel, from: last, to: end}}, nil
		}
		var out []span
		for _, f := range fs {
			out = append(out, span{name: "during " + f.Label(), from: f.At, to: v.faultEnd(f)})
		}
		return out, nil
	}
	var names []string
	for _, p := range v.in.Phases {
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("phase %q is not all, steady, before, during, after (optionally :<fault>) nor a recorded phase (recorded: %s)",
		sel, strings.Join(capList(names, MaxEvidence), ", "))
}

// steady is the "steady" phase of results.StandardPhases (the lab's definition: the start to one request
// timeout before the first fault, Input.RequestTimeout), for a run that recorded no "steady" phase.
func (v *view) steady(faults []results.Event, end time.Duration) []span {
	return []span{{name: results.PhaseSteady, from: 0, to: results.SteadyEnd(end, v.in.RequestTimeout, faults)}}
}

func faultNames(fs []results.Event) string {
	if len(fs) == 0 {
		return "none"
	}
	var n []string
	for _, f := range fs {
		n = append(n, f.Label())
	}
	return strings.Join(capList(n, MaxEvidence), ", ")
}

// figures returns the figures of a span and whether its latencies are exact. Without a
// recorded phase or a Spanner, they are summed from the span's windows and each percentile is
// the highest of the windows' — an upper bound of the span's (if no window has more than 1%
// of its requests above x, the span has not either).
func (v *view) figures(s span) (results.Figures, bool) {
	if s.fig != nil {
		return *s.fig, true
	}
	if v.in.Spans != nil {
		return v.in.Spans.Span(s.name, s.from, s.to), true
	}
	f := results.Figures{Name: s.name, Start: s.from, End: s.to}
	for _, w := range v.windowsIn(s) {
		f.Requests += w.Requests
		f.OK += w.OK
		f.Rejected += w.Rejected
		f.Failed += w.Failed
		f.Unknown += w.Unknown
		f.Items += w.Items
		f.ItemsOK += w.ItemsOK
		f.Late += w.Late
		l := &f.Latency
		l.Count += w.Latency.Count
		l.P50, l.P90 = max(l.P50, w.Latency.P50), max(l.P90, w.Latency.P90)
		l.P99, l.P999 = max(l.P99, w.Latency.P99), max(l.P999, w.Latency.P999)
		l.Max = max(l.Max, w.Latency.Max)
	}
	if f.Requests > 0 {
		f.ErrorRate = float64(f.Failed+f.Unknown) / float64(f.Requests)
		f.UnknownRate = float64(f.Unknown) / float64(f.Requests)
	}
	return f, false
}

// windowsIn returns the windows that overlap the span (the recorder keys operations by
// intended send time and rounds a span outwards to whole windows).
func (v *view) windowsIn(s span) []results.Figures {
	var out []results.Figures
	for _, w := range v.in.Windows {
		if w.Start < s.to && w.End > s.from {
			out = append(out, w)
		}
	}
	return out
}
