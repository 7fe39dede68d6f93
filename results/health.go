package results

import (
	"fmt"
	"strings"
	"time"
)

// Health is the lab's own condition over a span of a run (one window, a phase, the whole run):
// whether the machine running the lab had the CPU to measure the system under test, or was
// measuring itself. Everything in a lab run — ledger replicas, proxies, gateways, clients —
// shares one process and the machine's cores, so a starved lab shows up as slow payments; a
// timing verdict over a saturated span is therefore unknown, never pass or fail.
//
// A window's figures are measured over wall time from the run's start, the same base as the
// request windows (which are keyed by intended send time).
type Health struct {
	// Windows is how many one-second health windows the span holds; Saturated how many of them
	// broke the SaturationRule.
	Windows   int `json:"windows"`
	Saturated int `json:"saturated"`
	// SchedLagP99 and SchedLagMax are how late a 2 ms probe ticker fired (scheduler lag: the
	// time a runnable goroutine waited for a CPU, plus timer slack). On a healthy machine it is
	// well under a millisecond. Over several windows, the worst window's figure.
	SchedLagP99 time.Duration `json:"sched_lag_p99_ns"`
	SchedLagMax time.Duration `json:"sched_lag_max_ns"`
	// CPU is the lab process's CPU use in cores (user + system CPU-seconds per second, from
	// getrusage); Machine the whole machine's (from /proc/stat, busy = all but idle and iowait;
	// equal to CPU where /proc/stat is unreadable). Over several windows, the mean.
	CPU     float64 `json:"cpu_cores"`
	Machine float64 `json:"machine_cores"`
	// CPUSeconds is the lab process's CPU time over the span (user + system).
	CPUSeconds float64 `json:"cpu_seconds"`
	// Cores is how many cores the machine has (runtime.NumCPU).
	Cores int `json:"cores"`
	// GCPause is the stop-the-world time of the Go collector in the span (from runtime/metrics
	// /sched/pauses/total/gc:seconds, summed from its histogram's bucket bounds).
	GCPause time.Duration `json:"gc_pause_ns"`
	// IOStall is the share of the span (0..1) in which some task on the machine waited for IO
	// (Linux PSI, /proc/pressure/io "some"): the lab's own raft log fsyncs count, and so does a
	// neighbour's writeback, which delays those fsyncs and so every commit. IOStallKnown is false
	// where the kernel has no PSI. Over several windows, the worst window's figure.
	IOStall      float64 `json:"io_stall_share"`
	IOStallKnown bool    `json:"io_stall_known"`
	// Reasons say which limits a saturated span broke ("machine CPU 1.96 of 2 cores"), the first
	// few only.
	Reasons []string `json:"reasons,omitempty"`
}

// SaturationRule decides whether the lab was short of CPU in a window. A window is saturated
// when any limit is reached:
//   - scheduler lag p99 at or above SchedLagP99 (default 20 ms: a runnable goroutine of the lab
//     waited that long for a CPU, which adds directly to every latency measured in the window;
//     a quarter of the default raft heartbeat and lease of 75 ms, so lag below it cannot cost a
//     leader its lease. On a quiet machine the worst window of a zone-failover run, the crashed
//     node catching up, reaches 13 ms);
//   - the machine's CPU use at or above MachineShare of its cores (default 90%: nothing is left
//     for the next burst, so queues in the lab itself grow);
//   - the load generator sent LateShare or more of the window's requests later than its
//     LateAfter (default 10%, i.e. 100 ms' worth of a second's sends more than 10 ms late: the
//     generator itself could not keep its schedule; at 1% one isolated stall on a quiet machine
//     tripped it, at 5% the second a zone crashes, where a quiet machine reaches 8%);
//   - other processes used NeighbourCores or more (default 0.2 core: machine CPU less the lab's
//     own) while the machine was at least NeighbourBusy of its cores busy (default 50%). The lab
//     assumes it has the machine to itself: a payment crosses a dozen goroutine hand-offs, and a
//     neighbour's bursts delay each of them, inflating latency well before the lag probe or the
//     90% line sees it (measured: zone-failover's steady p99 169–199 ms alone, up to 295 ms with
//     a compiler running beside it, lag p99 under 20 ms and machine CPU 60–70%; and a quiet run
//     right after a build failed its 250 ms p99 at 270 ms over a second in which other processes
//     used 0.24 core, at first 0.25 here). Alone, other processes used at most 0.11 core in any
//     window of 39 runs.
//
// The thresholds are calibrated in docs/PERFORMANCE.md ("Lab health") from runs on a quiet
// machine and runs with a one-core busy loop beside them.
type SaturationRule struct {
	SchedLagP99    time.Duration
	MachineShare   float64
	LateShare      float64
	NeighbourCores float64
	NeighbourBusy  float64
}

// DefaultSaturationRule returns the documented default thresholds.
func DefaultSaturationRule() SaturationRule {
	return SaturationRule{SchedLagP99: 20 * time.Millisecond, MachineShare: 0.9, LateShare: 0.10, NeighbourCores: 0.2, NeighbourBusy: 0.5}
}

// String states the rule as the reports print it.
func (r SaturationRule) String() string {
	return fmt.Sprintf("a window is saturated when scheduler lag p99 ≥ %v, machine CPU ≥ %.0f%% of its cores, ≥ %.0f%% of sends were late, or other processes used ≥ %.2f core on a machine ≥ %.0f%% busy",
		r.SchedLagP99, 100*r.MachineShare, 100*r.LateShare, r.NeighbourCores, 100*r.NeighbourBusy)
}

// Judge decides whether one window is saturated: it sets h.Saturated to 0 or 1 (h.Windows to
// 1) and h.Reasons to the limits broken. requests and late are the window's request figures.
func (r SaturationRule) Judge(h *Health, requests, late uint64) {
	h.Windows, h.Saturated, h.Reasons = 1, 0, nil
	if r.SchedLagP99 > 0 && h.SchedLagP99 >= r.SchedLagP99 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("scheduler lag p99 %v ≥ %v", h.SchedLagP99.Round(10*time.Microsecond), r.SchedLagP99))
	}
	if r.MachineShare > 0 && h.Cores > 0 && h.Machine >= r.MachineShare*float64(h.Cores) {
		h.Reasons = append(h.Reasons, fmt.Sprintf("machine CPU %.2f of %d cores", h.Machine, h.Cores))
	}
	if r.LateShare > 0 && requests > 0 && float64(late) >= r.LateShare*float64(requests) {
		h.Reasons = append(h.Reasons, fmt.Sprintf("%d of %d sends late", late, requests))
	}
	if other := h.Machine - h.CPU; r.NeighbourCores > 0 && h.Cores > 0 && other >= r.NeighbourCores && h.Machine >= r.NeighbourBusy*float64(h.Cores) {
		h.Reasons = append(h.Reasons, fmt.Sprintf("other processes used %.2f core", other))
	}
	if len(h.Reasons) > 0 {
		h.Saturated = 1
	}
}

// maxHealthReasons bounds the reasons an aggregated Health keeps.
const maxHealthReasons = 3

// HealthOver aggregates the health of the windows whose start lies in [from, to) (to ≤ 0: to
// the end): counts, the worst lag, mean CPU, summed CPU time and GC pause, and the reasons of
// the first saturated windows, each prefixed with its window. It returns nil when no window in
// the span carries health figures.
func HealthOver(windows []Figures, from, to time.Duration) *Health {
	var out Health
	var cpu, machine float64
	for _, w := range windows {
		h := w.Health
		if h == nil || w.Start < from || (to > 0 && w.Start >= to) {
			continue
		}
		out.Windows++
		out.Saturated += h.Saturated
		out.SchedLagP99 = max(out.SchedLagP99, h.SchedLagP99)
		out.SchedLagMax = max(out.SchedLagMax, h.SchedLagMax)
		cpu += h.CPU
		machine += h.Machine
		out.CPUSeconds += h.CPUSeconds
		out.GCPause += h.GCPause
		out.Cores = max(out.Cores, h.Cores)
		if h.IOStallKnown {
			out.IOStall, out.IOStallKnown = max(out.IOStall, h.IOStall), true
		}
		if h.Saturated > 0 && len(out.Reasons) < maxHealthReasons {
			out.Reasons = append(out.Reasons, fmt.Sprintf("%s–%s: %s", fmtSeconds(w.Start), fmtSeconds(w.End), strings.Join(h.Reasons, ", ")))
		}
	}
	if out.Windows == 0 {
		return nil
	}
	if more := out.Saturated - len(out.Reasons); more > 0 {
		out.Reasons = append(out.Reasons, fmt.Sprintf("… and %d more saturated windows (timeseries.csv, column saturated_reasons)", more))
	}
	out.CPU = cpu / float64(out.Windows)
	out.Machine = machine / float64(out.Windows)
	return &out
}

// SaturatedText is the one-line account of a span's saturation that reports and unknown
// verdicts print: "lab saturated in 7 of 20 windows: lower the rate or free the CPU".
func (h *Health) SaturatedText() string {
	if h == nil || h.Saturated == 0 {
		return ""
	}
	return fmt.Sprintf("lab saturated in %d of %d windows: lower the rate or free the CPU", h.Saturated, h.Windows)
}

func fmtSeconds(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", d.Seconds()), "0"), ".") + "s"
}

// LabHealth is a run's account of its own condition, in summary.json: the rule, how many of the
// load's windows broke it, and what the lab cost.
type LabHealth struct {
	// Rule is the SaturationRule as text.
	Rule string `json:"rule"`
	// Load is the health over the load phase (the measured windows).
	Load *Health `json:"load,omitempty"`
	// CPUPerOp is the lab process's CPU time over the load phase divided by the requests sent in
	// it: what one payment (or read) costs the whole lab — clients, proxies, gateways, replicas.
	CPUPerOp time.Duration `json:"cpu_per_op_ns"`
	// PeakRSS is the process's peak resident set size in bytes (getrusage ru_maxrss).
	PeakRSS int64 `json:"peak_rss_bytes"`
}
