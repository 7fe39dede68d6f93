package results

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
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
	value func(Figures) float64
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
	colFault   = color.NRGBA{R: 0xe3, G: 0x1a, B: 0x1c, A: 0x30}
	colLeader  = color.RGBA{R: 0x33, G: 0x33, B: 0x99, A: 0xff}
	colDNS     = color.RGBA{R: 0x99, G: 0x66, B: 0x00, A: 0xff}
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportCharts are the charts of report.html, in order.
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

func rate(f Figures, n uint64) float64 {
	if s := (f.End - f.Start).Seconds(); s > 0 {
		return float64(n) / s
	}
	return 0
}

// renderChart draws one chart as an SVG document: the series over the windows, fault windows
// shaded and labelled, leader and DNS changes as dashed vertical markers.
func renderChart(spec chartSpec, windows []Figures, events []Event, span time.Duration) ([]byte, error) {
	p := plot.New()
	p.Title.Text = spec.title
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = spec.yLabel
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())

	xmax := math.Max(span.Seconds(), 1)
	ymax := 0.0
	const logFloor = 0.01 // ms: keeps zero values drawable on the log axis
	for _, s := range spec.series {
		pts := make(plotter.XYs, 0, len(windows))
		for _, w := range windows {
			v := s.value(w)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if spec.log && v < logFloor {
				v = logFloor
			}
			pts = append(pts, plotter.XY{X: (w.Start + (w.End-w.Start)/2).Seconds(), Y: v})
			ymax = math.Max(ymax, v)
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("chart %s, series %s: %w", spec.id, s.name, err)
		}
		l.Color = s.color
		l.Width = vg.Points(1.5)
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	ymin := 0.0
	if spec.log {
		ymin = logFloor
		ymax = math.Max(ymax*3, 1)
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		ymax = math.Max(ymax*1.25, 1)
	}
	p.X.Min, p.X.Max = 0, xmax
	p.Y.Min, p.Y.Max = ymin, ymax

	// yAt places a label at a fraction of the plot's height, on either scale.
	yAt := func(frac float64) float64 {
		if spec.log {
			return math.Exp(math.Log(ymin) + frac*(math.Log(ymax)-math.Log(ymin)))
		}
		return ymin + frac*(ymax-ymin)
	}
	markers := 0
	var lx plotter.XYs
	var lt []string
	for _, e := range events {
		at := e.At.Seconds()
		switch {
		case e.Kind == EventFault && e.Until > e.At:
			until := math.Min(e.Until.Seconds(), xmax)
			poly, err := plotter.NewPolygon(plotter.XYs{{X: at, Y: ymin}, {X: until, Y: ymin}, {X: until, Y: ymax}, {X: at, Y: ymax}})
			if err != nil {
				return nil, fmt.Errorf("chart %s, fault window %s: %w", spec.id, e.Label(), err)
			}
			poly.Color = colFault
			poly.LineStyle.Width = 0
			p.Add(poly)
			lx = append(lx, plotter.XY{X: at, Y: yAt(0.92)})
			lt = append(lt, e.Label())
		case e.Kind == EventLeader || e.Kind == EventDNS || e.Kind == EventNote || e.Kind == EventFault:
			c := color.Color(colLeader)
			if e.Kind == EventDNS {
				c = colDNS
			}
			line, err := plotter.NewLine(plotter.XYs{{X: at, Y: ymin}, {X: at, Y: ymax}})
			if err != nil {
				return nil, fmt.Errorf("chart %s, marker %s: %w", spec.id, e.Label(), err)
			}
			line.Color = c
			line.Width = vg.Points(1)
			line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(line)
			// Stagger marker labels so close events stay readable.
			lx = append(lx, plotter.XY{X: at, Y: yAt(0.8 - 0.1*float64(markers%3))})
			lt = append(lt, e.Label())
			markers++
		}
	}
	if len(lx) > 0 {
		labels, err := plotter.NewLabels(plotter.XYLabels{XYs: lx, Labels: lt})
		if err != nil {
			return nil, fmt.Errorf("chart %s, event labels: %w", spec.id, err)
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Font.Size = vg.Points(8)
			labels.TextStyle[i].XAlign = draw.XLeft
		}
		labels.Offset = vg.Point{X: vg.Points(2)}
		p.Add(labels)
	}

	c := vgsvg.New(9*vg.Inch, 3*vg.Inch)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: render SVG: %w", spec.id, err)
	}
	return buf.Bytes(), nil
}
