// Package health measures the lab's own condition while it measures the system under test:
// scheduler lag, CPU of the process and of the machine, and GC pauses, one figure set per
// window of the run. Every part of a lab run shares one process and the machine's cores, so
// when the machine is short of CPU the lab measures itself; results.SaturationRule turns these
// figures into a per-window verdict that timing assertions respect.
package health

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"paylab/results"
)

// Defaults of a Config.
const (
	DefaultWindow = time.Second
	// DefaultProbe is 2 ms so that a one-second window holds ~500 lag samples and its p99 is the
	// fifth-worst, not (at 10 ms, where a stall also drops ticks) the single worst: an isolated
	// 15–20 ms stall, seen on a quiet machine, then no longer decides a window (calibration in
	// docs/PERFORMANCE.md "Lab health"). 500 wakeups a second cost ~0.1% of a core.
	DefaultProbe = 2 * time.Millisecond
	// MaxWindows bounds the windows one sampler keeps (18 hours of one-second windows).
	MaxWindows = 1 << 16
	// maxProbes bounds the lag samples kept per window.
	maxProbes = 4096
)

// Config sets up a Sampler. Start is required.
type Config struct {
	// Start is the time base: window i covers [Start + i×Window, Start + (i+1)×Window).
	Start time.Time
	// Window is the width of a window (default one second, as results.Recorder's).
	Window time.Duration
	// Probe is the period of the lag-probe ticker (default 2 ms).
	Probe time.Duration
	// ProcStat is the path of the kernel's CPU counters (default /proc/stat); when unreadable
	// the machine's CPU is reported as the process's.
	ProcStat string
	// Children, when set, returns the process ids of the lab's own child processes (a region's
	// redis-server): their CPU counts as the lab's, not as a neighbour's. Read from /proc/<pid>/stat
	// at each window's edges; a child that exits mid-window drops out of that window.
	Children func() []int
	// PressureIO is the kernel's IO pressure file (default /proc/pressure/io, Linux PSI); when
	// unreadable (no PSI in the kernel) the IO stall is not reported.
	PressureIO string
}

// Sampler measures lab health per window until its context is done. Create it with Start; read
// it with Windows or Latest; Stop waits for its goroutine.
type Sampler struct {
	cfg  Config
	done chan struct{}
	stop context.CancelFunc

	mu      sync.Mutex
	windows []results.Health
}

// Start begins sampling in a goroutine owned by the returned Sampler (call Stop). The first
// window starts at cfg.Start; windows before the call are not measured and come back with zero
// figures and Windows = 0.
func Start(ctx context.Context, cfg Config) (*Sampler, error) {
	if cfg.Start.IsZero() {
		return nil, fmt.Errorf("health sampler: Start is required")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Probe == 0 {
		cfg.Probe = DefaultProbe
	}
	if cfg.ProcStat == "" {
		cfg.ProcStat = "/proc/stat"
	}
	if cfg.PressureIO == "" {
		cfg.PressureIO = "/proc/pressure/io"
	}
	if cfg.Window < 10*cfg.Probe || cfg.Probe <= 0 {
		return nil, fmt.Errorf("health sampler: Window %v must hold at least 10 probes of %v", cfg.Window, cfg.Probe)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{cfg: cfg, done: make(chan struct{}), stop: cancel}
	go s.loop(ctx)
	return s, nil
}

// Stop ends sampling and waits for the sampler's goroutine. The window in progress is
// dropped. Stop is idempotent.
func (s *Sampler) Stop() {
	s.stop()
	<-s.done
}

// Windows returns the completed windows, window i at index i (a copy).
func (s *Sampler) Windows() []results.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.windows)
}

// Window returns completed window i, and false when it is not complete yet (or was not
// measured).
func (s *Sampler) Window(i int) (results.Health, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.windows) || s.windows[i].Windows == 0 {
		return results.Health{}, false
	}
	return s.windows[i], true
}

// counters are the cumulative figures read at a window's edges.
type counters struct {
	at       time.Time
	cpu      time.Duration         // process user + system
	busy     uint64                // machine jiffies not idle nor iowait
	total    uint64                // machine jiffies
	machine  bool                  // busy and total were read
	gcPause  float64               // seconds of GC stop-the-world, cumulative
	children map[int]time.Duration // CPU of each child process so far, by pid
	ioStall  uint64                // µs in which some task waited for IO (PSI "some" total), cumulative
	io       bool                  // ioStall was read
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	probe := time.NewTicker(s.cfg.Probe)
	defer probe.Stop()
	gc := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	statBuf := make([]byte, 0, 4096)
	read := func(now time.Time) counters {
		c := counters{at: now, cpu: processCPU()}
		if s.cfg.Children != nil {
			c.children = childrenCPU(s.cfg.Children())
		}
		c.busy, c.total, c.machine = machineCPU(s.cfg.ProcStat, &statBuf)
		c.ioStall, c.io = pressureSome(s.cfg.PressureIO, &statBuf)
		metrics.Read(gc)
		c.gcPause = histogramSum(gc[0].Value)
		return c
	}

	now := time.Now()
	idx := max(0, int(now.Sub(s.cfg.Start)/s.cfg.Window))
	end := s.cfg.Start.Add(time.Duration(idx+1) * s.cfg.Window)
	// The window the sampler starts in is partial; it is measured from now.
	prevCounters := read(now)
	prev := now
	lags := make([]time.Duration, 0, 128)
	for {
		select {
		case <-ctx.Done():
			return
		case <-probe.C:
		}
		now := time.Now()
		// Go's ticker drops ticks it could not deliver, so the gap since the last probe holds the
		// whole lateness however long the stall.
		lag := max(now.Sub(prev)-s.cfg.Probe, 0)
		prev = now
		if len(lags) < maxProbes {
			lags = append(lags, lag)
		}
		if now.Before(end) {
			continue
		}
		c := read(now)
		h := windowHealth(prevCounters, c, lags)
		prevCounters, lags = c, lags[:0]
		s.mu.Lock()
		for len(s.windows) < idx && len(s.windows) < MaxWindows {
			s.windows = append(s.windows, results.Health{}) // not measured
		}
		if len(s.windows) < MaxWindows {
			s.windows = append(s.windows, h)
		}
		s.mu.Unlock()
		// A stall longer than a window closes one window with the whole stall in it.
		idx = int(now.Sub(s.cfg.Start) / s.cfg.Window)
		end = s.cfg.Start.Add(time.Duration(idx+1) * s.cfg.Window)
	}
}

// windowHealth turns the counters at a window's edges and its lag probes into its figures.
func windowHealth(a, b counters, lags []time.Duration) results.Health {
	h := results.Health{Windows: 1, Cores: runtime.NumCPU()}
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	h.CPUSeconds = (b.cpu - a.cpu).Seconds()
	for pid, cb := range b.children {
		if ca, ok := a.children[pid]; ok && cb >= ca {
			h.CPUSeconds += (cb - ca).Seconds()
		}
	}
	h.CPU = h.CPUSeconds / secs
	h.Machine = h.CPU
	if a.machine && b.machine && b.total > a.total {
		h.Machine = float64(h.Cores) * float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	h.GCPause = time.Duration(math.Round(math.Max(0, b.gcPause-a.gcPause) * 1e9))
	if a.io && b.io && b.ioStall >= a.ioStall {
		h.IOStall = min(1, float64(b.ioStall-a.ioStall)/1e6/secs)
		h.IOStallKnown = true
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		h.SchedLagP99 = lags[min(len(lags)-1, int(math.Ceil(0.99*float64(len(lags))))-1)]
		h.SchedLagMax = lags[len(lags)-1]
	}
	return h
}

// processCPU is the process's user + system CPU time so far (getrusage RUSAGE_SELF).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is the process's peak resident set size in bytes (getrusage ru_maxrss, which Linux
// reports in KiB), or 0 when unavailable.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024
}

// ProcessCPU is the process's user + system CPU time so far (getrusage), for callers that
// measure a stretch themselves.
func ProcessCPU() time.Duration { return processCPU() }

// machineCPU reads the aggregate "cpu" line of /proc/stat (proc(5)): busy is every field but
// idle and iowait, total all of them, in jiffies; ok is false when the file is unreadable.
func machineCPU(path string, buf *[]byte) (busy, total uint64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 512)
	line, err := r.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("cpu ")) {
		return 0, 0, false
	}
	*buf = append((*buf)[:0], line...)
	fields := bytes.Fields((*buf)[4:])
	for i, fld := range fields {
		if i >= 8 { // user nice system idle iowait irq softirq steal; guest is inside user
			break
		}
		v, err := strconv.ParseUint(string(fld), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, total > 0
}

// childrenCPU reads each pid's user + system CPU time from /proc/<pid>/stat (proc(5): fields 14 and 15, in
// clock ticks of 1/100 s on Linux); unreadable pids are left out.
func childrenCPU(pids []int) map[int]time.Duration {
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) is in parentheses and may hold spaces: fields count after its ')'.
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(raw[i+1:])
		if len(f) < 13 {
			continue
		}
		ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
		st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
		if err1 == nil && err2 == nil {
			out[pid] = time.Duration(ut+st) * 10 * time.Millisecond
		}
	}
	return out
}

// pressureSome reads the cumulative "some" stall time in µs from a PSI file such as
// /proc/pressure/io (Documentation/accounting/psi.rst: "some avg10=… avg60=… avg300=… total=…",
// total in µs during which at least one task was stalled on the resource); ok is false when the
// file is unreadable or has no such line.
func pressureSome(path string, buf *[]byte) (total uint64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256)
	line, err := r.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("some ")) {
		return 0, false
	}
	*buf = append((*buf)[:0], line...)
	for _, fld := range bytes.Fields(*buf) {
		if v, found := bytes.CutPrefix(fld, []byte("total=")); found {
			n, err := strconv.ParseUint(string(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// histogramSum estimates the sum of a runtime/metrics histogram's samples from its bucket
// bounds (the midpoint of each finite bucket, the finite bound of an open one).
func histogramSum(v metrics.Value) float64 {
	if v.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := v.Float64Histogram()
	var sum float64
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		var mid float64
		switch {
		case math.IsInf(lo, -1):
			mid = hi
		case math.IsInf(hi, 1):
			mid = lo
		default:
			mid = (lo + hi) / 2
		}
		sum += float64(n) * mid
	}
	return sum
}

// ChildrenCPU is the summed user + system CPU time of the given child processes so far (/proc/<pid>/stat),
// for callers that add the lab's children to ProcessCPU over a stretch.
func ChildrenCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, d := range childrenCPU(pids) {
		sum += d
	}
	return sum
}
