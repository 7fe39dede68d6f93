package results

import (
	"image/color"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The event strip sits above the charts on the same time axis. Each kind of event has its own
// lane, so marks of different kinds never share a line; within a lane, windows that would
// overlap (with their labels) go to further rows, and instants that would overprint are
// grouped into one mark: "leader changed 3× in 14–20 s". Every event is still listed in
// words in the report's timeline table.

// lane is one kind of event in the strip.
type lane struct {
	name   string
	kind   EventKind
	color  color.Color
	shade  *shadeStyle // windows: how they are filled
	spans  []span      // windows (faults, saturation), with labels
	labels []string
	events []Event // instants
	marks  []laneMark
	rows   int
}

// laneMark is one drawn mark: a window, or one or more instants under one label.
type laneMark struct {
	span    span      // the window, or first to last instant
	ticks   []float64 // instants, in seconds
	label   string
	labelAt float64 // where the label starts, in seconds
	end     float64 // right edge of the mark and its label, in seconds
	row     int
}

// stripLanes are the lanes of the strip that have something in them, in order: faults, lab
// saturation, leader changes, DNS changes, breaker changes, notes.
func stripLanes(events []Event, faults, sat []span) []*lane {
	lanes := []*lane{
		{name: "faults", kind: EventFault, shade: &faultShade, spans: faults},
		{name: "lab saturated", shade: &satShade, spans: sat},
		{name: "ledger leader", kind: EventLeader, color: colLeader},
		{name: "DNS", kind: EventDNS, color: colDNS},
		{name: "gateway breakers", kind: EventBreaker, color: colBreaker},
		{name: "notes", kind: EventNote, color: colNote},
	}
	for _, e := range events {
		k := e.lane()
		for _, l := range lanes[2:] {
			if l.kind == k {
				l.events = append(l.events, e)
			}
		}
		if k == EventFault {
			lanes[0].labels = append(lanes[0].labels, e.Label())
		}
	}
	var out []*lane
	for _, l := range lanes {
		if len(l.spans) > 0 || len(l.events) > 0 {
			sort.SliceStable(l.events, func(i, j int) bool { return l.events[i].At < l.events[j].At })
			out = append(out, l)
		}
	}
	return out
}

// stripStyle is the text style of the strip's labels.
func stripStyle(c color.Color) draw.TextStyle {
	f := sansFont
	f.Size = stripFontSz
	return text.Style{Color: c, Font: f, Handler: plot.DefaultTextHandler, YAlign: text.YCenter}
}

// Gaps between marks and their labels, in points.
const (
	labelPad = 3.0 // from a mark to its label
	markGap  = 6.0 // between one mark's label and the next mark
)

// layoutLanes places every lane's marks for a data area width points wide showing xmax
// seconds: windows into rows, instants into groups, so no two marks or labels of a row overlap.
func layoutLanes(lanes []*lane, xmax, width float64) {
	perSec := width / xmax
	// Label widths get a little slack for a fallback font.
	textW := func(s string) float64 { return 1.06 * float64(stripStyle(colText).Width(s)) / perSec }
	pad, gap := labelPad/perSec, markGap/perSec
	for _, l := range lanes {
		l.marks, l.rows = nil, 1
		if l.shade != nil {
			var rowEnd []float64
			for i, s := range l.spans {
				m := laneMark{span: s, end: s.to}
				if i < len(l.labels) {
					m.label = l.labels[i]
					m.labelAt = min(s.from+pad, xmax-textW(m.label))
					m.end = max(s.to, m.labelAt+textW(m.label))
				}
				start := min(s.from, m.labelAt)
				if m.label == "" {
					start = s.from
				}
				m.row = len(rowEnd)
				for r, end := range rowEnd {
					if start >= end+gap {
						m.row = r
						break
					}
				}
				if m.row == len(rowEnd) {
					rowEnd = append(rowEnd, 0)
				}
				rowEnd[m.row] = m.end
				l.marks = append(l.marks, m)
			}
			l.rows = max(1, len(rowEnd))
			continue
		}
		// Instants: each event starts a mark; when its mark cannot be placed clear of the one
		// before, the two groups merge (which changes the label, so it may cascade).
		var groups [][]Event
		var marks []laneMark
		for _, e := range l.events {
			g := []Event{e}
			for {
				after := math.Inf(-1)
				if n := len(marks); n > 0 {
					after = marks[n-1].end + gap
				}
				if m, ok := pointMark(l.kind, g, after, xmax, pad, textW); ok || len(marks) == 0 {
					groups, marks = append(groups, g), append(marks, m)
					break
				}
				n := len(groups)
				g = slices.Concat(groups[n-1], g)
				groups, marks = groups[:n-1], marks[:n-1]
			}
		}
		l.marks = marks
	}
}

// pointMark is the mark of a group of instants of one lane, starting at or after the second
// after; ok is false when it cannot.
func pointMark(kind EventKind, g []Event, after, xmax, pad float64, textW func(string) float64) (m laneMark, ok bool) {
	// Instants past the chart's end are drawn at its end (the label keeps their times).
	at := func(e Event) float64 { return max(0, min(e.At.Seconds(), xmax)) } // events before the load (the first election) sit at its start
	m = laneMark{span: span{at(g[0]), at(g[len(g)-1])}}
	for _, e := range g {
		m.ticks = append(m.ticks, at(e))
	}
	switch {
	case len(g) == 1:
		m.label = g[0].short()
	case len(g) == 2 && kind == EventLeader: // a failover: "no leader → us-east/b"
		m.label = g[0].short() + " " + g[1].short()
	case len(g) == 2:
		m.label = g[0].short() + ", " + g[1].short()
	default:
		m.label = groupLabel(kind, len(g), g[0].At, g[len(g)-1].At)
	}
	w := textW(m.label)
	first, last := m.span.from, m.span.to
	// One instant: its label after its tick, or before it at the chart's end. A group: its
	// label above its bracket, from the first instant (or ending at the chart's end).
	places := []float64{first + pad, first - pad - w}
	if len(g) > 1 {
		places = []float64{min(first, xmax-w)}
	}
	for _, at := range places {
		if at < 0 || at+w > xmax+1e-9 || min(first, at) < after {
			continue
		}
		m.labelAt, m.end = at, max(last, at+w)
		return m, true
	}
	m.labelAt = max(0, min(first+pad, xmax-w))
	m.end = max(last, m.labelAt+w)
	return m, false
}

// drawStrip draws the lanes on c, the data area starting left points from c's left edge and
// ending right points from its right edge.
func drawStrip(c draw.Canvas, lanes []*lane, left, right vg.Length, xmax float64) {
	x0, x1 := c.Min.X+left, c.Max.X-right
	x := func(s float64) vg.Length { return x0 + vg.Length(s/xmax)*(x1-x0) }
	top := c.Max.Y - stripAxisH
	rows := 0
	for _, l := range lanes {
		rows += l.rows
	}
	bottom := top - vg.Length(rows)*laneRowH

	// Lane backgrounds, alternating, then the time grid and its ticks above the lanes.
	y := top
	for i, l := range lanes {
		h := vg.Length(l.rows) * laneRowH
		if i%2 == 0 {
			c.FillPolygon(colLaneBg, []vg.Point{{X: x0, Y: y - h}, {X: x1, Y: y - h}, {X: x1, Y: y}, {X: x0, Y: y}})
		}
		name := stripStyle(colText)
		name.XAlign = text.XRight
		c.FillText(name, vg.Point{X: x0 - laneNamePad, Y: y - h/2}, l.name)
		y -= h
	}
	tick := stripStyle(color.Gray{Y: 0x55})
	tick.XAlign, tick.YAlign = text.XCenter, text.YBottom
	for _, t := range (plot.DefaultTicks{}).Ticks(0, xmax) {
		if t.IsMinor() {
			continue
		}
		c.StrokeLine2(draw.LineStyle{Color: colGrid, Width: 0.5}, x(t.Value), bottom, x(t.Value), top)
		// Keep the label on the canvas: the last one would overhang the right edge.
		lx := min(x(t.Value), c.Max.X-tick.Width(t.Label+" s")/2-1)
		c.FillText(tick, vg.Point{X: lx, Y: top + 2}, t.Label+" s")
	}
	frame := draw.LineStyle{Color: color.Gray{Y: 0x99}, Width: 0.5}
	c.StrokeLines(frame, []vg.Point{{X: x0, Y: top}, {X: x0, Y: bottom}, {X: x1, Y: bottom}, {X: x1, Y: top}, {X: x0, Y: top}})

	// The marks.
	y = top
	for _, l := range lanes {
		for _, m := range l.marks {
			rt := y - vg.Length(m.row)*laneRowH // the row's top
			mid := rt - laneRowH/2
			if l.shade != nil {
				l.shade.paint(c, x(m.span.from), x(m.span.to), rt-laneRowH+1.5, rt-1.5)
				if m.label != "" {
					c.FillText(stripStyle(colText), vg.Point{X: x(m.labelAt), Y: mid}, m.label)
				}
				continue
			}
			ls := draw.LineStyle{Color: l.color, Width: 1.2}
			rb := rt - laneRowH // the row's bottom
			if len(m.ticks) == 1 {
				c.StrokeLine2(ls, x(m.ticks[0]), rt-2.5, x(m.ticks[0]), rb+2.5)
				c.FillText(stripStyle(darker(l.color)), vg.Point{X: x(m.labelAt), Y: mid}, m.label)
				continue
			}
			// A group: a bracket with a short tick per instant, the label above it.
			for _, t := range m.ticks {
				c.StrokeLine2(ls, x(t), rb+1.5, x(t), rb+5)
			}
			c.StrokeLine2(draw.LineStyle{Color: l.color, Width: 0.8}, x(m.span.from), rb+1.5, x(m.span.to), rb+1.5)
			c.FillText(stripStyle(darker(l.color)), vg.Point{X: x(m.labelAt), Y: mid + 2.5}, m.label)
		}
		y -= vg.Length(l.rows) * laneRowH
	}
}

// darker returns a colour for text on a light background in the lane's hue.
func darker(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	return color.RGBA{R: uint8(r >> 9), G: uint8(g >> 9), B: uint8(b >> 9), A: 0xff}
}
