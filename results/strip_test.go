package results

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// denseEvents is a bad run's timeline: three overlapping faults and one never healed, the
// leader changing 18 times in 14 s, a hundred breaker transitions on three gateways, DNS flapping.
func denseEvents() []Event {
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	evs := []Event{
		{At: s(2), Until: s(10), Kind: EventFault, Name: "zone-down", Target: "us-east/a"},
		{At: s(4), Until: s(6), Kind: EventFault, Name: "latency", Target: "us-west<->eu-west"},
		{At: s(5), Until: s(15), Kind: EventFault, Name: "partition", Target: "eu-west"},
		{At: s(17), Kind: EventFault, Name: "leader-kill"},
	}
	for i := range 18 {
		target := "ledger:us-east/" + string(rune('a'+i%3))
		if i%2 == 1 {
			target = "none"
		}
		evs = append(evs, Event{At: s(1 + 0.75*float64(i)), Kind: EventLeader, Name: "leader", Target: target})
	}
	for i := range 100 {
		evs = append(evs, BreakerEvent(s(6+0.08*float64(i)), fmt.Sprintf("gateway:us-east/%c", 'a'+i%3), "closed", "open", "5 consecutive failures"))
	}
	for i := range 4 {
		evs = append(evs, Event{At: s(7 + 0.3*float64(i)), Kind: EventDNS, Name: "dns", Target: "us-east", Detail: "out of pay.lab (503)"})
	}
	return append(evs, Event{At: s(19.9), Kind: EventNote, Name: "rolling-restart", Target: "eu-west", Detail: "restarted gateway:eu-west/a"})
}

// However dense the events and however narrow the chart, no two marks of a lane's row overlap
// (labels included), every label stays inside the chart, and every event is drawn exactly once.
func TestStripMarksNeverOverlap(t *testing.T) {
	evs := denseEvents()
	const xmax = 20.0
	faults := faultSpans(evs, xmax)
	sat := []span{{6, 9}, {15, 17}}
	for _, width := range []float64{250, 560, 900} {
		lanes := stripLanes(evs, faults, sat)
		layoutLanes(lanes, xmax, width)
		perSec := width / xmax
		textW := func(s string) float64 { return float64(stripStyle(colText).Width(s)) / perSec }
		drawn := map[EventKind]int{}
		for _, l := range lanes {
			if l.shade != nil {
				drawn[l.kind] += len(l.marks)
			}
			for _, m := range l.marks {
				drawn[l.kind] += len(m.ticks)
				if m.label != "" && (m.labelAt < -1e-9 || m.labelAt+textW(m.label) > xmax+1e-9) {
					t.Errorf("width %v, lane %s: label %q at %.2f s leaves the chart", width, l.name, m.label, m.labelAt)
				}
			}
			for r := range l.rows {
				prevEnd, prev := -1.0, ""
				for _, m := range l.marks {
					if m.row != r {
						continue
					}
					start := m.span.from
					if m.label != "" {
						start = min(start, m.labelAt)
					}
					if start < prevEnd+markGap/perSec-1e-9 {
						t.Errorf("width %v, lane %s, row %d: %q (from %.2f s) overprints %q (to %.2f s)", width, l.name, r, m.label, start, prev, prevEnd)
					}
					prevEnd, prev = m.end, m.label
				}
			}
		}
		want := map[EventKind]int{EventFault: 4, "": 2, EventLeader: 18, EventBreaker: 100, EventDNS: 4, EventNote: 1}
		for k, n := range want {
			if drawn[k] != n {
				t.Errorf("width %v: lane %q draws %d events, want %d", width, k, drawn[k], n)
			}
		}
		if lanes[0].rows < 2 {
			t.Errorf("width %v: overlapping faults share one row", width)
		}
		if got := laneText(lanes[2]); !strings.Contains(got, "leader changed") {
			t.Errorf("width %v: 18 leader changes in 14 s not grouped: %s", width, got)
		}
	}
}

// A few well-spaced events keep their own words; a failover's two changes read as one.
func TestSparseEventsKeepTheirOwnLabels(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	evs := []Event{
		{At: ms(150), Kind: EventLeader, Name: "leader", Target: "ledger:us-east/a"},
		{At: ms(6010), Kind: EventLeader, Name: "leader", Target: "none"},
		{At: ms(6140), Kind: EventLeader, Name: "leader", Target: "ledger:us-east/b"},
		{At: ms(8000), Kind: EventDNS, Name: "dns", Target: "us-east", Detail: "out of pay.lab (503)"},
		{At: ms(15000), Kind: EventDNS, Name: "dns", Target: "us-east", Detail: "back in pay.lab (200 OK)"},
		BreakerEvent(ms(6300), "gateway:us-east/a", "closed", "open", "5 consecutive failures"),
	}
	lanes := stripLanes(evs, nil, nil)
	layoutLanes(lanes, 20, 560)
	var got []string
	for _, l := range lanes {
		got = append(got, l.name+": "+laneText(l))
	}
	want := []string{"ledger leader: → us-east/a | no leader → us-east/b", "DNS: us-east out | us-east back in", "gateway breakers: us-east/a open"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lanes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConsecutiveSaturatedWindowsJoin(t *testing.T) {
	var ws []Figures
	for i, sat := range []int{0, 1, 1, 0, 1, 0} {
		ws = append(ws, Figures{Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second, Health: &Health{Saturated: sat}})
	}
	ws = append(ws, Figures{Start: 6 * time.Second, End: 7 * time.Second}) // no health figures
	if got := fmt.Sprint(saturatedSpans(ws)); got != "[{1 3} {4 5}]" {
		t.Errorf("saturated spans %s, want [{1 3} {4 5}]", got)
	}
}

// laneText lists a lane's labels.
func laneText(l *lane) string {
	var s []string
	for _, m := range l.marks {
		s = append(s, m.label)
	}
	return strings.Join(s, " | ")
}

// Events after the load (heals, leader changes while draining) widen the time axis, by half the
// run at most; later ones are drawn at its end.
func TestTimeAxisCoversLateEvents(t *testing.T) {
	run := &Run{Duration: 20 * time.Second, Events: []Event{{At: 23 * time.Second, Kind: EventDNS, Name: "dns", Target: "us-east", Detail: "back in pay.lab (200 OK)"}}}
	if got := timeAxis(run); got != 23 {
		t.Errorf("time axis %v s, want 23", got)
	}
	run.Events = append(run.Events, Event{At: 2 * time.Second, Until: 300 * time.Second, Kind: EventFault, Name: "zone-down", Target: "us-east/a"},
		Event{At: 90 * time.Second, Kind: EventLeader, Name: "leader", Target: "none"})
	xmax := timeAxis(run)
	if xmax != 30 {
		t.Errorf("time axis %v s, want 30 (1.5 × the run)", xmax)
	}
	lanes := stripLanes(run.Events, faultSpans(run.Events, xmax), nil)
	layoutLanes(lanes, xmax, 560)
	for _, l := range lanes {
		for _, m := range l.marks {
			if m.span.to > xmax || m.end > xmax+1e-9 {
				t.Errorf("lane %s: %q ends at %.1f s, past the axis (%v s)", l.name, m.label, m.end, xmax)
			}
		}
	}
}
