package results

import (
	"bytes"
	"fmt"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// SweepSeries is one line of a sweep chart: for each x position, the values the repeats observed.
type SweepSeries struct {
	Name   string
	Values [][]float64 // Values[i] are the repeats at XTicks[i]
}

var sweepColors = []color.Color{colP50, colP99, colOK, colP999, colErr, colReject, colUnknown, colLeader}

// SweepChart draws a figure of a parameter sweep as SVG: every repeat as a point, the median of each x
// position joined by a line, one colour per series (the other parameters' combination).
func SweepChart(title, xLabel, yLabel string, xTicks []string, series []SweepSeries) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	ticks := make([]plot.Tick, len(xTicks))
	for i, t := range xTicks {
		ticks[i] = plot.Tick{Value: float64(i), Label: t}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(len(xTicks))-0.5
	p.Y.Min = 0
	for si, s := range series {
		c := sweepColors[si%len(sweepColors)]
		var pts, med plotter.XYs
		for i, vs := range s.Values {
			if len(vs) == 0 {
				continue
			}
			sorted := append([]float64(nil), vs...)
			sort.Float64s(sorted)
			for _, v := range sorted {
				pts = append(pts, plotter.XY{X: float64(i), Y: v})
			}
			med = append(med, plotter.XY{X: float64(i), Y: sorted[len(sorted)/2]})
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, fmt.Errorf("sweep chart %s: %w", title, err)
		}
		sc.Color = c
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(2.5)
		l, err := plotter.NewLine(med)
		if err != nil {
			return nil, fmt.Errorf("sweep chart %s: %w", title, err)
		}
		l.Color = c
		l.Width = vg.Points(1.5)
		p.Add(sc, l)
		p.Legend.Add(s.Name+" (median)", l)
	}
	canvas := vgsvg.New(7*vg.Inch, 3.5*vg.Inch)
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("sweep chart %s: %w", title, err)
	}
	return buf.Bytes(), nil
}
