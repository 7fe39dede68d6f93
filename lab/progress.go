package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"paylab/results"
)

// progress prints one line per one-second window of the load, once the window is complete: every request
// due in it has had its full timeout to finish (a line printed earlier showed a window still filling, e.g.
// 16 req/s for a second that ended with 2,000). Ticks the process missed are caught up; next is the first
// window not printed yet (flushProgress prints the rest after the load).
func (r *runner) progress(ctx context.Context, m *measurement, next *int) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		complete := int((time.Since(m.t0) - r.s.Workload.Timeout) / time.Second)
		r.printWindows(m, next, complete)
	}
}

// flushProgress prints the windows the live progress did not reach (the load is over, all are complete),
// and ends the live line.
func (r *runner) flushProgress(m *measurement, next *int) {
	r.printWindows(m, next, len(m.rec.Windows()))
	if r.opts.Live {
		fmt.Fprintln(r.opts.Out)
	}
}

// printWindows prints windows *next up to (not including) upTo and advances *next. Each line describes
// its own second: the leader at its end and the faults active in it come from the run's events, the lab's
// health from the sampler's figures for that window.
func (r *runner) printWindows(m *measurement, next *int, upTo int) {
	wins := m.rec.Windows()
	upTo = min(upTo, len(wins), int(r.s.Duration/time.Second))
	if *next >= upTo {
		return
	}
	events := append(r.l.Events(), r.timeline.Running()...)
	for ; *next < upTo; *next++ {
		idx := *next
		w := wins[idx]
		from, to := time.Duration(idx)*time.Second, time.Duration(idx+1)*time.Second
		lab := ""
		if h, ok := m.sampler.Window(idx); ok {
			rule := results.DefaultSaturationRule()
			rule.Judge(&h, w.Requests, w.Late)
			lab = fmt.Sprintf("  lab cpu %.1f machine %.1f/%d lag %.1fms", h.CPU, h.Machine, h.Cores, ms(h.SchedLagP99))
			if h.Saturated > 0 {
				lab += " SATURATED"
			}
		}
		line := fmt.Sprintf("  [%2ds–%2ds] %6.0f req/s  ok %5.1f%%  unknown %d  failed %d  p99 %7.1fms  leader %s%s%s",
			idx, idx+1, w.RequestRate, pct(w.OK+w.Rejected, w.Requests), w.Unknown, w.Failed, ms(w.Latency.P99),
			leaderAt(events, to), lab, faultsIn(events, from, to))
		if r.opts.Live {
			fmt.Fprintf(r.opts.Out, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(r.opts.Out, line)
		}
	}
}

// leaderAt is the leader the last leader event at or before at names ("none" when it says none or there
// is none), without the "ledger:" prefix.
func leaderAt(events []results.Event, at time.Duration) string {
	leader, when := "none", time.Duration(-1<<62)
	for _, e := range events {
		if e.Kind == results.EventLeader && e.At <= at && e.At >= when {
			leader, when = e.Target, e.At
		}
	}
	return strings.TrimPrefix(leader, "ledger:")
}

// faultsIn is "  fault: name target, …" for the fault events overlapping [from, to) (open ones, Until 0,
// run to the end), or "".
func faultsIn(events []results.Event, from, to time.Duration) string {
	var names []string
	for _, e := range events {
		if e.Kind != results.EventFault || e.At >= to || (e.Until != 0 && e.Until <= from) {
			continue
		}
		if n := strings.TrimSpace(e.Name + " " + e.Target); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "  fault: " + strings.Join(names, ", ")
}

func pct(n, of uint64) float64 {
	if of == 0 {
		return 100
	}
	return 100 * float64(n) / float64(of)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
