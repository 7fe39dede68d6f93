package health

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"paylab/results"
)

// A window's figures come from the counters at its edges and its lag probes: CPU in cores,
// the machine's share from jiffies, the lag's p99 and max, GC pause as a difference.
func TestWindowHealthFromCounters(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := counters{at: t0, cpu: 3 * time.Second, busy: 1000, total: 4000, machine: true, gcPause: 0.010}
	b := counters{at: t0.Add(2 * time.Second), cpu: 4 * time.Second, busy: 1300, total: 4400, machine: true, gcPause: 0.013}
	lags := make([]time.Duration, 200)
	for i := range lags {
		lags[i] = time.Duration(i) * 10 * time.Microsecond
	}
	lags[17] = 50 * time.Millisecond // one stall, the max; the 99th percentile is the 198th of 200
	h := windowHealth(a, b, lags)
	cores := float64(runtime.NumCPU())
	if h.CPU != 0.5 || h.CPUSeconds != 1 {
		t.Errorf("process CPU %.3f cores, %.3f s; want 0.5 cores over 2 s, 1 s", h.CPU, h.CPUSeconds)
	}
	if want := cores * 300 / 400; h.Machine != want {
		t.Errorf("machine CPU %.3f, want %.3f (300 of 400 jiffies busy × %v cores)", h.Machine, want, cores)
	}
	if h.SchedLagMax != 50*time.Millisecond || h.SchedLagP99 != 1980*time.Microsecond {
		t.Errorf("lag p99 %v max %v; want 1.98ms and 50ms", h.SchedLagP99, h.SchedLagMax)
	}
	if h.GCPause != 3*time.Millisecond || h.Windows != 1 || h.Cores != runtime.NumCPU() {
		t.Errorf("gc pause %v, windows %d, cores %d", h.GCPause, h.Windows, h.Cores)
	}
	// Without the machine's counters, the machine figure falls back to the process's.
	a.machine = false
	if h := windowHealth(a, b, nil); h.Machine != h.CPU || h.SchedLagP99 != 0 {
		t.Errorf("fallback: machine %.3f, process %.3f, lag %v", h.Machine, h.CPU, h.SchedLagP99)
	}
}

// The aggregate cpu line of /proc/stat is read as busy and total jiffies; anything else is
// refused rather than misread.
func TestMachineCPUReadsProcStat(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var buf []byte
	ok := write("stat", "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n")
	busy, total, read := machineCPU(ok, &buf)
	if !read || busy != 160 || total != 1000 {
		t.Errorf("busy %d total %d read %v; want 160, 1000, true", busy, total, read)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu  1 x 3 4\n"} {
		if _, _, read := machineCPU(write("bad", bad), &buf); read {
			t.Errorf("machineCPU(%q) claimed to read it", bad)
		}
	}
	if _, _, read := machineCPU(filepath.Join(dir, "missing"), &buf); read {
		t.Error("a missing file was read")
	}
}

// A running sampler closes windows on the configured grid with real figures, and Stop ends its
// goroutine; waiting is on a condition with a generous deadline, never on a fixed sleep.
func TestSamplerClosesWindowsAndStops(t *testing.T) {
	start := time.Now()
	s, err := Start(context.Background(), Config{Start: start, Window: 100 * time.Millisecond, Probe: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := s.Window(2); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no third window within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Stop()
	s.Stop() // idempotent
	ws := s.Windows()
	if len(ws) < 3 {
		t.Fatalf("%d windows", len(ws))
	}
	var rule = results.DefaultSaturationRule()
	for i, h := range ws[:3] {
		if h.Windows != 1 || h.Cores < 1 || h.CPU < 0 || h.Machine < 0 || h.SchedLagMax < h.SchedLagP99 {
			t.Errorf("window %d: %+v", i, h)
		}
		rule.Judge(&h, 0, 0) // the rule accepts what the sampler produces
	}
	n := len(s.Windows())
	if _, ok := s.Window(n); ok {
		t.Error("a window past the last was reported complete")
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {Start: time.Now(), Window: time.Millisecond}, {Start: time.Now(), Probe: -1}} {
		if s, err := Start(context.Background(), c); err == nil {
			s.Stop()
			t.Errorf("Start(%+v) accepted a bad config", c)
		}
	}
}

// TestPressureSomeReadsPSI: the "some" line's total (µs) is read; a file without PSI is not.
func TestPressureSomeReadsPSI(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "io")
	if err := os.WriteFile(good, []byte("some avg10=1.31 avg60=12.48 avg300=9.60 total=1232223653\nfull avg10=1.04 avg60=10.42 avg300=7.72 total=469708181\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	if v, ok := pressureSome(good, &buf); !ok || v != 1232223653 {
		t.Fatalf("pressureSome = %d, %v; want 1232223653, true", v, ok)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("full avg10=0 total=5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := pressureSome(bad, &buf); ok {
		t.Fatal("a file without a some line was read")
	}
	if _, ok := pressureSome(filepath.Join(dir, "absent"), &buf); ok {
		t.Fatal("a missing file was read")
	}
	a := counters{at: time.Unix(0, 0), ioStall: 1_000_000, io: true}
	b := counters{at: time.Unix(2, 0), ioStall: 1_500_000, io: true}
	if h := windowHealth(a, b, nil); !h.IOStallKnown || h.IOStall != 0.25 {
		t.Fatalf("IO stall over 2 s with 0.5 s stalled = %v (known %v), want 0.25", h.IOStall, h.IOStallKnown)
	}
	if h := windowHealth(counters{at: a.at}, b, nil); h.IOStallKnown {
		t.Fatal("an IO stall was reported from one reading")
	}
}

// TestChildrenCPUReadsProcStat: a child process's CPU is read from /proc/<pid>/stat (this process stands in
// for one); an absent pid is left out.
func TestChildrenCPUReadsProcStat(t *testing.T) {
	self := os.Getpid()
	deadline := time.Now().Add(30 * time.Second)
	for ChildrenCPU([]int{self}) == 0 { // burn a little CPU until a clock tick is charged
		if time.Now().After(deadline) {
			t.Fatal("no CPU time read for this process from /proc/self/stat")
		}
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	if got := childrenCPU([]int{-1}); len(got) != 0 {
		t.Fatalf("an absent pid was read: %v", got)
	}
}
