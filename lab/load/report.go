package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"paylab/outcome"
	"paylab/results"
)

// Report is what one Run did and saw.
type Report struct {
	Model string // "open" or "closed"
	Pacer string // the schedule, e.g. "constant 1000/s"

	// SendWindow is the time sending covered: Duration when the schedule ran to its end,
	// otherwise until sending stopped (cancelled, MaxRequests reached).
	SendWindow time.Duration
	// Elapsed runs from the start until the last request finished.
	Elapsed time.Duration
	// FirstSent and LastSent are the actual send times of the first and last request, since
	// the start.
	FirstSent, LastSent time.Duration

	Requests   uint64  // requests sent (and finished)
	Items      uint64  // business operations those requests carried
	Due        uint64  // requests the schedule called for within SendWindow
	Missed     uint64  // due but never sent (the generator was behind when sending stopped)
	Late       uint64  // sent later than LateAfter past their intended time
	TargetRate float64 // Due / SendWindow: the rate asked for
	Rate       float64 // Requests / SendWindow: the send rate achieved

	OK, Rejected, Failed, Unknown uint64
	// Reasons counts reasons of non-OK outcomes (at most 64 distinct; the rest as "(other)").
	Reasons map[string]uint64

	PeakWorkers     int    // workers started (open) or clients (closed)
	MaxWorkers      int    // the bound
	WaitedForWorker uint64 // due requests that found all MaxWorkers busy

	// Limited is set when the generator, not the target, kept the schedule from being met:
	// requests missed or more than 1% sent late. LimitReason says which resource ran out.
	Limited     bool
	LimitReason string

	// Total is the recorder's figures for the run (throughput, error and unknown rates,
	// latency from the intended send time). With a shared recorder it covers everything
	// recorded into it, not only this run.
	Total results.Figures
	// Windows is the time series (one-second windows by default).
	Windows []results.Figures

	// Latency is the merged histogram (µs) of latency from the intended send time; Service
	// is from the actual send (what a closed-loop tool would report); SendLag is the
	// generator's own delay (actual − intended send).
	Latency, Service, SendLag *hdrhistogram.Histogram
}

func (r *run) report() *Report {
	h := r.rec.Merged()
	rep := &Report{
		Elapsed:    time.Since(r.t0),
		Requests:   r.sent.Load(),
		Items:      r.items.Load(),
		MaxWorkers: r.cfg.MaxWorkers,
		Reasons:    map[string]uint64{},
		Total:      r.rec.Total(),
		Windows:    r.rec.Windows(),
		Latency:    h.Latency,
		Service:    h.Service,
		SendLag:    h.Lag,
	}
	if fs := r.firstSent.Load(); fs >= 0 {
		rep.FirstSent = time.Duration(fs)
		rep.LastSent = time.Duration(r.lastSent.Load())
	}
	rep.OK, rep.Rejected = r.kinds[outcome.OK].Load(), r.kinds[outcome.Rejected].Load()
	rep.Failed, rep.Unknown = r.kinds[outcome.Failed].Load(), r.kinds[outcome.Unknown].Load()
	rep.Late = r.late.Load()
	r.mu.Lock()
	maps.Copy(rep.Reasons, r.reasons)
	r.mu.Unlock()
	return rep
}

// judge decides whether the generator was the limit.
func (rep *Report) judge() {
	lateShare := 0.0
	if rep.Requests > 0 {
		lateShare = float64(rep.Late) / float64(rep.Requests)
	}
	if rep.Missed == 0 && lateShare <= 0.01 {
		return
	}
	rep.Limited = true
	what := fmt.Sprintf("%d of %d due requests missed, %d sent late (%.1f%%)", rep.Missed, rep.Due, rep.Late, 100*lateShare)
	if rep.WaitedForWorker > 0 {
		rep.LimitReason = fmt.Sprintf("generator limit: all %d workers were busy %d times (rate × latency exceeded the concurrency bound): %s; raise the bound (a scenario's workload.max_connections, paylab load --max-workers) or lower the rate",
			rep.MaxWorkers, rep.WaitedForWorker, what)
		return
	}
	rep.LimitReason = fmt.Sprintf("generator limit: the pacing loop fell behind schedule (CPU?): %s", what)
}

func us(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// P50 is the median latency from the intended send time.
func (rep *Report) P50() time.Duration { return us(rep.Latency.ValueAtQuantile(50)) }

// P99 is the 99th percentile latency from the intended send time.
func (rep *Report) P99() time.Duration { return us(rep.Latency.ValueAtQuantile(99)) }

// P999 is the 99.9th percentile latency from the intended send time.
func (rep *Report) P999() time.Duration { return us(rep.Latency.ValueAtQuantile(99.9)) }

// Max is the highest latency from the intended send time.
func (rep *Report) Max() time.Duration { return us(rep.Latency.Max()) }

// Quantile returns the latency at percentile q (0–100) from the intended send time.
func (rep *Report) Quantile(q float64) time.Duration { return us(rep.Latency.ValueAtQuantile(q)) }

// ItemRate is items carried by OK requests per second of the send window.
func (rep *Report) ItemRate() float64 {
	if rep.SendWindow <= 0 {
		return 0
	}
	return float64(rep.Total.ItemsOK) / rep.SendWindow.Seconds()
}

// WriteSummary prints a k6-like summary of the run.
func (rep *Report) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
	lat := func(h *hdrhistogram.Histogram) string {
		l := results.LatencyOf(h)
		return fmt.Sprintf("avg=%s min=%s med=%s p(90)=%s p(99)=%s p(99.9)=%s max=%s",
			ms(l.Mean), ms(l.Min), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	pct := func(n uint64) string {
		if rep.Requests == 0 {
			return "0.00%"
		}
		return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(rep.Requests))
	}
	fmt.Fprintf(tw, "  model\t: %s (%s), %d workers peak of %d\n", rep.Model, rep.Pacer, rep.PeakWorkers, rep.MaxWorkers)
	fmt.Fprintf(tw, "  requests\t: %d sent in %v, %.1f/s (target %.1f/s); %d due, %d missed, %d late\n",
		rep.Requests, rep.SendWindow.Round(time.Millisecond), rep.Rate, rep.TargetRate, rep.Due, rep.Missed, rep.Late)
	fmt.Fprintf(tw, "  items\t: %d carried, %.1f/s committed\n", rep.Items, rep.ItemRate())
	fmt.Fprintf(tw, "  outcomes\t: ok=%d (%s) rejected=%d (%s) failed=%d (%s) unknown=%d (%s)\n",
		rep.OK, pct(rep.OK), rep.Rejected, pct(rep.Rejected), rep.Failed, pct(rep.Failed), rep.Unknown, pct(rep.Unknown))
	fmt.Fprintf(tw, "  latency\t: %s\n", lat(rep.Latency))
	fmt.Fprintf(tw, "  service time\t: %s\n", lat(rep.Service))
	fmt.Fprintf(tw, "  send lag\t: %s\n", lat(rep.SendLag))
	if len(rep.Reasons) > 0 {
		keys := slices.Collect(maps.Keys(rep.Reasons))
		slices.SortFunc(keys, func(a, b string) int {
			if c := int(rep.Reasons[b]) - int(rep.Reasons[a]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		parts := make([]string, 0, min(len(keys), 8))
		for _, k := range keys[:min(len(keys), 8)] {
			parts = append(parts, fmt.Sprintf("%s=%d", k, rep.Reasons[k]))
		}
		fmt.Fprintf(tw, "  reasons\t: %s\n", strings.Join(parts, " "))
	}
	if rep.Limited {
		fmt.Fprintf(tw, "  WARNING\t: %s\n", rep.LimitReason)
	}
	return tw.Flush()
}
