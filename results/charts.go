package results

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// series is one line of a chart.
type series struct {
	name  string
	color color.Color
	dash  bool
	value func(Figures) float64 // NaN: no point in this window
}

// chartSpec describes one time-series chart of the report.
type chartSpec struct {
	id     string
	title  string
	yLabel string
	log    bool
	series []series
}

var (
	colOK      = color.RGBA{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff}
	colOffered = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	colErr     = color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff}
	colUnknown = color.RGBA{R: 0x75, G: 0x70, B: 0xb3, A: 0xff}
	colReject  = color.RGBA{R: 0xe6, G: 0xab, B: 0x02, A: 0xff}
	colP50     = color.RGBA{R: 0x1f, G: 0x78, B: 0xb4, A: 0xff}
	colP99     = color.RGBA{R: 0xe3, G: 0x1a, B: 0x1c, A: 0xff}
	colP999    = color.RGBA{R: 0x6a, G: 0x3d, B: 0x9a, A: 0xff}
	colLeader  = color.RGBA{R: 0x33, G: 0x33, B: 0x99, A: 0xff}
	colDNS     = color.RGBA{R: 0x99, G: 0x66, B: 0x00, A: 0xff}
	colBreaker = color.RGBA{R: 0xc5, G: 0x1b, B: 0x7d, A: 0xff}
	colNote    = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	colMachine = color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff}
	colLimit   = color.RGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}
	colGC      = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	colText    = color.RGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}
	colGrid    = color.Gray{Y: 0xdd}
	colLaneBg  = color.Gray{Y: 0xf4}

	// Fault windows: translucent red. Saturated windows: translucent grey with a hatch, so they
	// stay distinct from fault windows where the two overlap. The page's legend (.sw.fault,
	// .sw.sat in report.html.tmpl) draws the same two.
	faultShade = shadeStyle{fill: color.NRGBA{R: 0xe3, G: 0x1a, B: 0x1c, A: 0x30}}
	satShade   = shadeStyle{fill: color.NRGBA{R: 0x60, G: 0x60, B: 0x60, A: 0x22}, hatch: color.NRGBA{R: 0x40, G: 0x40, B: 0x40, A: 0x80}}
)

// Chart geometry in SVG points; the page scales every chart to its width, so equal sizes and
// aligned data areas keep one second at the same place on every chart.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 1.8 * vg.Inch
	laneRowH    = vg.Length(15)
	stripAxisH  = vg.Length(13) // the time ticks above the lanes
	stripFontSz = vg.Length(8)
	laneNamePad = vg.Length(6)
)

// sansFont is Liberation Sans; the SVG names Arial and Helvetica (same metrics) as fallbacks,
// so labels measured here take the same room in any browser.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportCharts are the request charts of report.html, in order.
func reportCharts() []chartSpec {
	return []chartSpec{
		{id: "throughput", title: "Throughput (requests/s, by intended send second)", yLabel: "requests/s", series: []series{
			{"offered", colOffered, true, func(f Figures) float64 { return f.RequestRate }},
			{"ok", colOK, false, func(f Figures) float64 { return f.OKRate }},
			{"rejected", colReject, false, func(f Figures) float64 { return rate(f, f.Rejected) }},
			{"failed", colErr, false, func(f Figures) float64 { return rate(f, f.Failed) }},
			{"unknown", colUnknown, false, func(f Figures) float64 { return rate(f, f.Unknown) }},
		}},
		{id: "latency", title: "Latency from intended send time (ms, log scale)", yLabel: "ms", log: true, series: []series{
			{"p50", colP50, false, func(f Figures) float64 { return ms(f.Latency.P50) }},
			{"p99", colP99, false, func(f Figures) float64 { return ms(f.Latency.P99) }},
			{"p99.9", colP999, false, func(f Figures) float64 { return ms(f.Latency.P999) }},
		}},
		{id: "errors", title: "Errors (% of requests: failed + unknown, unknown alone)", yLabel: "%", series: []series{
			{"errors", colErr, false, func(f Figures) float64 { return 100 * f.ErrorRate }},
			{"unknown", colUnknown, true, func(f Figures) float64 { return 100 * f.UnknownRate }},
		}},
	}
}

// backendChart is the chart of what happened behind the gateways, drawn when any window carries it.
func backendChart() chartSpec {
	bv := func(get func(*Backend) uint64) func(Figures) float64 {
		return func(f Figures) float64 {
			if f.Backend == nil {
				return math.NaN()
			}
			return rate(f, get(f.Backend))
		}
	}
	return chartSpec{id: "backend", title: "Behind the gateways: balance reads sent to the ledger and answered by the cache (per second)", yLabel: "reads/s", series: []series{
		{"ledger reads", colErr, false, bv(func(b *Backend) uint64 { return b.LedgerReads })},
		{"cache hits", colOK, false, bv(func(b *Backend) uint64 { return b.CacheHits })},
	}}
}

// healthCharts are the lab-health charts, drawn when any window carries health figures. The
// saturation limits are drawn only when the run used the default rule, whose numbers are
// known here; rule is the run's LabHealth.Rule.
func healthCharts(rule string) []chartSpec {
	hv := func(get func(*Health) float64) func(Figures) float64 {
		return func(f Figures) float64 {
			if f.Health == nil {
				return math.NaN()
			}
			return get(f.Health)
		}
	}
	cpu := []series{
		{"lab process", colP50, false, hv(func(h *Health) float64 { return h.CPU })},
		{"whole machine", colMachine, false, hv(func(h *Health) float64 { return h.Machine })},
		{"cores", colLimit, false, hv(func(h *Health) float64 { return float64(h.Cores) })},
	}
	lag := []series{
		{"lag p99", colP99, false, hv(func(h *Health) float64 { return ms(h.SchedLagP99) })},
		{"lag max", colP999, true, hv(func(h *Health) float64 { return ms(h.SchedLagMax) })},
		{"GC pause", colGC, false, hv(func(h *Health) float64 { return ms(h.GCPause) })},
	}
	if d := DefaultSaturationRule(); rule == "" || rule == d.String() {
		cpu = append(cpu, series{fmt.Sprintf("saturated at %.0f%% of cores", 100*d.MachineShare), colLimit, true,
			hv(func(h *Health) float64 { return d.MachineShare * float64(h.Cores) })})
		lag = append(lag, series{fmt.Sprintf("saturated at p99 %v", d.SchedLagP99), colLimit, true,
			hv(func(*Health) float64 { return ms(d.SchedLagP99) })})
	}
	return []chartSpec{
		{id: "cpu", title: "Lab health: CPU in use (cores)", yLabel: "cores", series: cpu},
		{id: "lag", title: "Lab health: scheduler lag and GC pause per window (ms, log scale)", yLabel: "ms", log: true, series: lag},
	}
}

func rate(f Figures, n uint64) float64 {
	if s := (f.End - f.Start).Seconds(); s > 0 {
		return float64(n) / s
	}
	return 0
}

// legendItem is one entry of a chart's legend, drawn by the page: a line in a colour.
type legendItem struct {
	Name  string
	Style template.CSS // the line's CSS border: colour and dash
}

// reportChart is one chart as the page embeds it.
type reportChart struct {
	ID     string
	Title  string
	Legend []legendItem
	SVG    template.HTML
}

// span is a stretch of the run in seconds.
type span struct{ from, to float64 }

// renderCharts draws the report's charts: the event strip (when anything happened), the request
// charts and, when measured, the lab-health charts. Every chart shades fault windows and
// saturated windows, and all share one time axis placed at the same x on the page.
func renderCharts(r *Run) ([]reportChart, error) {
	xmax := timeAxis(r)
	faults, sat := faultSpans(r.Events, xmax), saturatedSpans(r.Windows)
	var shades []plot.Plotter
	for _, s := range faults {
		shades = append(shades, shade{span: s, style: faultShade})
	}
	for _, s := range sat {
		shades = append(shades, shade{span: s, style: satShade})
	}

	specs := reportCharts()
	if slices.ContainsFunc(r.Windows, func(f Figures) bool { return f.Backend != nil }) {
		specs = append(specs, backendChart())
	}
	if hasHealth(r.Windows) {
		rule := ""
		if r.LabHealth != nil {
			rule = r.LabHealth.Rule
		}
		specs = append(specs, healthCharts(rule)...)
	}
	plots := make([]*plot.Plot, len(specs))
	legends := make([][]legendItem, len(specs))
	for i, spec := range specs {
		p, legend, err := buildPlot(spec, r.Windows, xmax, shades)
		if err != nil {
			return nil, err
		}
		plots[i], legends[i] = p, legend
	}

	// One left and one right margin for all: the widest axis decides.
	lanes := stripLanes(r.Events, faults, sat)
	var left, right vg.Length
	for _, l := range lanes {
		left = max(left, stripStyle(colText).Width(l.name)+2*laneNamePad)
	}
	for _, p := range plots {
		dc := draw.New(vgsvg.New(chartWidth, chartHeight))
		da := p.DataCanvas(dc)
		left = max(left, da.Min.X-dc.Min.X)
		right = max(right, dc.Max.X-da.Max.X)
	}

	var out []reportChart
	if len(lanes) > 0 {
		layoutLanes(lanes, xmax, float64(chartWidth-left-right))
		rows := 0
		for _, l := range lanes {
			rows += l.rows
		}
		h := stripAxisH + vg.Length(rows)*laneRowH + 2
		svg, err := renderSVG("events", chartWidth, h, func(c draw.Canvas) { drawStrip(c, lanes, left, right, xmax) })
		if err != nil {
			return nil, err
		}
		out = append(out, reportChart{ID: "events", Title: "Events (one lane each; close events grouped)", SVG: svg})
	}
	for i, p := range plots {
		svg, err := renderSVG(specs[i].id, chartWidth, chartHeight, func(c draw.Canvas) {
			dc := p.DataCanvas(c)
			p.Draw(draw.Crop(c, left-(dc.Min.X-c.Min.X), -(right - (c.Max.X - dc.Max.X)), 0, 0))
		})
		if err != nil {
			return nil, err
		}
		out = append(out, reportChart{ID: specs[i].id, Title: specs[i].title, Legend: legends[i], SVG: svg})
	}
	return out, nil
}

// timeAxis is how many seconds the charts show: the run's duration and windows, and the events
// after them (heals, leader changes while draining) up to half as long again.
func timeAxis(r *Run) float64 {
	span := r.Duration
	for _, w := range r.Windows {
		span = max(span, w.End)
	}
	last := span
	for _, e := range r.Events {
		last = max(last, e.At, e.Until)
	}
	return math.Max(math.Min(last.Seconds(), 1.5*span.Seconds()), 1)
}

// renderSVG draws on a fresh SVG canvas and returns the <svg> element itself (no XML
// prologue), with the fonts named with their metric-compatible fallbacks.
func renderSVG(id string, w, h vg.Length, paint func(draw.Canvas)) (template.HTML, error) {
	c := vgsvg.New(w, h)
	paint(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("chart %s: render SVG: %w", id, err)
	}
	svg := buf.Bytes()
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	svg = bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	return template.HTML(svg), nil // #nosec: generated by gonum/plot from numbers and our labels, escaped by svgo
}

// buildPlot makes one chart's plot: shading first, then the grid and the series. The chart's
// title and legend are drawn by the page.
func buildPlot(spec chartSpec, windows []Figures, xmax float64, shades []plot.Plotter) (*plot.Plot, []legendItem, error) {
	p := newChartPlot(spec.yLabel, shades)
	ymax, ypos := 0.0, math.Inf(1) // the largest value, the smallest above zero
	var legend []legendItem
	for _, s := range spec.series {
		pts, smax, spos := seriesPoints(s, windows, spec.log)
		ymax, ypos = math.Max(ymax, smax), math.Min(ypos, spos)
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, nil, fmt.Errorf("chart %s, series %s: %w", spec.id, s.name, err)
		}
		l.Color = s.color
		l.Width = vg.Points(1.5)
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		border := "solid"
		if s.dash {
			border = "dashed"
		}
		legend = append(legend, legendItem{Name: s.name, Style: template.CSS("border-top:2px " + border + " " + cssColor(s.color))})
	}
	setChartAxes(p, spec.log, xmax, ymax, ypos)
	return p, legend, nil
}

// chartLogFloor (ms) keeps zero values drawable on a log axis.
const chartLogFloor = 0.01

// newChartPlot is an empty chart: fonts, axis labels, the shaded spans and the grid.
func newChartPlot(yLabel string, shades []plot.Plotter) *plot.Plot {
	p := plot.New()
	for _, st := range []*font.Font{&p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font, &p.X.Tick.Label.Font, &p.Y.Tick.Label.Font} {
		st.Typeface, st.Variant = sansFont.Typeface, sansFont.Variant
	}
	p.X.Label.TextStyle.Font.Size, p.Y.Label.TextStyle.Font.Size = 9, 9
	p.X.Tick.Label.Font.Size, p.Y.Tick.Label.Font.Size = 8, 8
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = yLabel
	p.Add(shades...)
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = colGrid, colGrid
	p.Add(grid)
	return p
}

// seriesPoints is one series' value in each window, at the window's middle; values that are not finite
// are left out and, on a log axis, values under chartLogFloor raised to it. ymax is the largest value (0
// if none), ypos the smallest above zero (+Inf if none).
func seriesPoints(s series, windows []Figures, log bool) (pts plotter.XYs, ymax, ypos float64) {
	pts = make(plotter.XYs, 0, len(windows))
	ypos = math.Inf(1)
	for _, w := range windows {
		v := s.value(w)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if log && v < chartLogFloor {
			v = chartLogFloor
		}
		pts = append(pts, plotter.XY{X: (w.Start + (w.End-w.Start)/2).Seconds(), Y: v})
		ymax = math.Max(ymax, v)
		if v > 0 {
			ypos = math.Min(ypos, v)
		}
	}
	return pts, ymax, ypos
}

// setChartAxes sets the axes' ranges and ticks: x from 0 to xmax; y from 0 (linear, with headroom over
// ymax) or from the decade below ypos (log).
func setChartAxes(p *plot.Plot, log bool, xmax, ymax, ypos float64) {
	ymin := 0.0
	if log {
		// From the decade below the smallest value: no empty decades under the lines.
		ymin = chartLogFloor
		if !math.IsInf(ypos, 1) {
			ymin = math.Max(chartLogFloor, math.Pow(10, math.Floor(math.Log10(ypos))))
		}
		ymax = math.Max(ymax*3, 10*ymin)
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		ymax = math.Max(ymax*1.15, 1)
		p.Y.Tick.Marker = plainTicks{}
	}
	p.X.Tick.Marker = plainTicks{}
	p.X.Min, p.X.Max = 0, xmax
	p.Y.Min, p.Y.Max = ymin, ymax
}

// plainTicks are gonum's default ticks labelled without trailing zeros ("500", not "500.00").
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if !t.IsMinor() {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
	}
	return ticks
}

func cssColor(c color.Color) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}

// shadeStyle fills a window, optionally hatched.
type shadeStyle struct {
	fill  color.Color
	hatch color.Color // nil: no hatch
}

// paint fills the rectangle [x0, x1] × [y0, y1] of c.
func (s shadeStyle) paint(c draw.Canvas, x0, x1, y0, y1 vg.Length) {
	if x1 <= x0 {
		x1 = x0 + 0.5 // a window shorter than a point still shows
	}
	c.FillPolygon(s.fill, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if s.hatch == nil {
		return
	}
	// 45° lines every 5 points, clipped to the rectangle.
	ls := draw.LineStyle{Color: s.hatch, Width: 0.6}
	h := y1 - y0
	for k := x0 - h; k < x1; k += 5 {
		a, b := max(0, x0-k), min(h, x1-k)
		if a < b {
			c.StrokeLine2(ls, k+a, y0+a, k+b, y0+b)
		}
	}
}

// shade is a plotter that shades a window of time over the whole height of a chart.
type shade struct {
	span  span
	style shadeStyle
}

// Plot implements plot.Plotter.
func (s shade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0 := max(c.Min.X, trX(s.span.from))
	x1 := min(c.Max.X, trX(s.span.to))
	s.style.paint(c, x0, x1, c.Min.Y, c.Max.Y)
}

// faultSpans are the fault windows, clipped to the chart; a fault never healed lasts to the end.
func faultSpans(events []Event, xmax float64) []span {
	var out []span
	for _, e := range events {
		if e.lane() != EventFault {
			continue
		}
		to := xmax
		if e.Until > e.At {
			to = math.Min(e.Until.Seconds(), xmax)
		}
		out = append(out, span{e.At.Seconds(), to})
	}
	return out
}

// saturatedSpans joins consecutive saturated windows into spans.
func saturatedSpans(windows []Figures) []span {
	var out []span
	for _, w := range windows {
		if w.Health == nil || w.Health.Saturated == 0 {
			continue
		}
		from, to := w.Start.Seconds(), w.End.Seconds()
		if n := len(out); n > 0 && from <= out[n-1].to+1e-9 {
			out[n-1].to = math.Max(out[n-1].to, to)
			continue
		}
		out = append(out, span{from, to})
	}
	return out
}

func hasHealth(windows []Figures) bool {
	for _, w := range windows {
		if w.Health != nil {
			return true
		}
	}
	return false
}
