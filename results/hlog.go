package results

import (
	"fmt"
	"io"
	"path/filepath"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HistogramLogFile is the run directory's HdrHistogram interval log.
const HistogramLogFile = "latency.hlog"

// WriteHistogramLog writes the recorder's one-second windows as an HdrHistogram interval log (format 1.3), the
// interchange format of HdrHistogram's own tools (HistogramLogAnalyzer, hdr-plot): latency from the intended
// send time, in microseconds. Windows without samples are left out.
func (r *Recorder) WriteHistogramLog(w io.Writer) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	start := r.cfg.Start.UnixMilli()
	lw.SetBaseTime(start)
	steps := []func() error{
		lw.OutputLogFormatVersion,
		func() error { return lw.OutputStartTime(start) },
		func() error {
			return lw.OutputComment("[paylab: latency from intended send time in microseconds; interval max column in seconds]")
		},
		lw.OutputLegend,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("write %s: %w", HistogramLogFile, err)
		}
	}
	window := r.cfg.Window.Milliseconds()
	for wi := 0; wi < r.nWin; wi++ {
		var t tally
		h := r.newHist()
		r.mergeWindow(wi, &t, h)
		if h.TotalCount() == 0 {
			continue
		}
		h.SetStartTimeMs(start + int64(wi)*window)
		h.SetEndTimeMs(start + int64(wi+1)*window)
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return fmt.Errorf("write %s: window %d: %w", HistogramLogFile, wi, err)
		}
	}
	return nil
}

// SaveHistogramLog writes the interval log into dir as latency.hlog.
func (r *Recorder) SaveHistogramLog(dir string) error {
	return writeFile(filepath.Join(dir, HistogramLogFile), r.WriteHistogramLog)
}
