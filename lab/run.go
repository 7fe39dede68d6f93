package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"paylab/lab/health"
	"paylab/lab/load"
	"paylab/results"
	"paylab/scenarios"
)

// RunOptions configure one scenario run.
type RunOptions struct {
	// RunsDir is where run directories go (default "runs").
	RunsDir string
	// Out receives progress and the verdict; nil discards them.
	Out io.Writer
	// ToxiproxyURL drives an external toxiproxy-server (default: embedded).
	ToxiproxyURL string
	// KeepNodeData keeps the ledger nodes' bbolt files in the run directory (they are removed otherwise).
	KeepNodeData bool
	// RaftLog receives raft's own warnings.
	RaftLog io.Writer
	// MaxHistory bounds the operations kept in the history (default 2,000,000).
	MaxHistory int
	// Live rewrites one progress line in place (for a terminal) instead of printing a line a second.
	Live bool
	// Profile captures goroutine dumps and CPU profiles from the nodes' pprof endpoints in every fault
	// window, into the run directory's profiles/.
	Profile bool
	// Replay is the command that runs this scenario again, stored in summary.json and junit.xml (default
	// ReplayCommand(s.Name, s.Seed, 0)).
	Replay string
}

// ReplayCommand is the paylab command that runs scenario (a library name or a file) again with seed,
// and with duration when it was overridden (0: the scenario's own).
func ReplayCommand(scenario string, seed uint64, duration time.Duration) string {
	cmd := fmt.Sprintf("paylab run %s --seed %d", scenario, seed)
	if duration > 0 {
		cmd += " --duration " + duration.String()
	}
	return cmd
}

// buildCommit is set at link time by the Makefile (-ldflags "-X paylab/lab.buildCommit=…") for builds Go
// does not stamp itself: `go run` (make scenario) and GOFLAGS=-buildvcs=false.
var buildCommit string

// Commit is the paylab commit this binary was built from: the vcs.revision Go stamps into binaries built
// inside a repository, with "-dirty" when the tree had changes; else the commit the Makefile linked in;
// "" when there is neither (go test, a bare go run).
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildCommit
	}
	var rev, dirty string
	for _, kv := range bi.Settings {
		switch {
		case kv.Key == "vcs.revision":
			rev = kv.Value
		case kv.Key == "vcs.modified" && kv.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return buildCommit
	}
	return rev + dirty
}

// Result is what a run produced.
type Result struct {
	// Dir is the run directory.
	Dir string
	// Run is the summary written to Dir.
	Run *results.Run
}

// ErrSetup marks a failure to build or drive the lab (exit code 2), as opposed to a failed assertion.
var ErrSetup = errors.New("setup failed")

// Run executes a scenario end to end: build, warm-up, load with the timeline, drain, check, write. It
// returns an error wrapping ErrSetup when the lab could not be built or driven; a run whose assertions
// fail returns a Result with a failing verdict and no error. Every fault is healed and every part stopped
// before it returns, whatever happened.
func Run(ctx context.Context, s *scenarios.Scenario, pos scenarios.Positions, opts RunOptions) (res *Result, err error) {
	if opts.RunsDir == "" {
		opts.RunsDir = "runs"
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.MaxHistory <= 0 {
		opts.MaxHistory = 2_000_000
	}
	if opts.Replay == "" {
		opts.Replay = ReplayCommand(s.Name, s.Seed, 0)
	}
	plan, err := Prepare(s, pos)
	if err != nil {
		return nil, err
	}
	id, dir, err := newRunDir(opts.RunsDir, s.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), s.Source, 0o644); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	nodeDir := filepath.Join(dir, "nodes")
	defer func() {
		if !opts.KeepNodeData {
			_ = removeDir(nodeDir)
		}
	}()
	fmt.Fprintf(opts.Out, "paylab run %s → %s\n", s.Name, dir)

	l, err := Build(ctx, s, Options{Dir: nodeDir, ToxiproxyURL: opts.ToxiproxyURL, Log: opts.Out, RaftLog: opts.RaftLog})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer l.Close()

	r := &runner{l: l, s: s, plan: plan, opts: opts, id: id, dir: dir}
	return r.run(ctx)
}

// newRunDir creates runs/<UTC time>-<name>/, adding -2, -3, … when a run of the same name started in the
// same second, so no run overwrites another.
func newRunDir(runsDir, name string) (id, dir string, err error) {
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", runsDir, err)
	}
	base := time.Now().UTC().Format("20060102T150405Z") + "-" + name
	for i := 1; i <= 100; i++ {
		id = base
		if i > 1 {
			id = fmt.Sprintf("%s-%d", base, i)
		}
		dir = filepath.Join(runsDir, id)
		err = os.Mkdir(dir, 0o755)
		if err == nil {
			return id, dir, nil
		}
		if !os.IsExist(err) {
			return "", "", fmt.Errorf("create run directory: %w", err)
		}
	}
	return "", "", fmt.Errorf("create run directory %s: 100 runs of %s in one second", base, name)
}

type runner struct {
	l    *Lab
	s    *scenarios.Scenario
	plan *Plan
	opts RunOptions
	id   string
	dir  string

	workload load.Workload
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	s := r.s
	target, closeTarget, err := r.l.newTarget(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer closeTarget()
	var prefix [3]byte
	_, _ = rand.Read(prefix[:])
	r.workload = load.Workload{
		Accounts:   s.Accounts.Count,
		Mix:        load.Mix{Transfer: s.Workload.Mix.Transfer, Read: s.Workload.Mix.Read, StaleRead: s.Workload.Mix.StaleRead},
		Zipf:       s.Workload.HotAccounts.Zipf,
		Duplicates: s.Workload.Duplicates,
		MinAmount:  s.Workload.Amount.Min,
		MaxAmount:  s.Workload.Amount.Max,
		Regions:    s.Workload.From,
		Seed:       s.Seed,
		IDPrefix:   "r" + hex.EncodeToString(prefix[:]) + "-",
	}
	op, err := r.workload.Op(target)
	if err != nil {
		return nil, fmt.Errorf("%w: workload: %v", ErrSetup, err)
	}

	if s.Warmup > 0 {
		fmt.Fprintf(r.opts.Out, "warm-up %v at %s\n", s.Warmup, describeRate(s.Workload.Rate))
		wcfg := r.loadConfig(s.Warmup, constantPacer(s.Workload.Rate))
		// The warm-up only reads: it opens connections and warms caches without moving money, so the state
		// at the start of the measured run is the opening state the checkers model.
		warm := r.workload
		warm.Mix = load.Mix{Read: 1}
		warm.Duplicates = 0
		wop, _ := warm.Op(target)
		if _, err := load.Run(ctx, wcfg, wop); err != nil {
			return nil, fmt.Errorf("%w: warm-up: %v", ErrSetup, err)
		}
	}

	if err := r.plan.startTimeline(r.l); err != nil {
		return nil, fmt.Errorf("%w: timeline: %v", ErrSetup, err)
	}
	// Whatever happens from here — a failed step, Ctrl-C, a panic — every fault is healed before the lab
	// stops (a healed fault heals again as a no-op).
	defer func() {
		if err := r.plan.healAll(context.Background(), r.l, r.opts.Out); err != nil {
			fmt.Fprintf(r.opts.Out, "heal on exit: %v\n", err)
		}
	}()
	t0 := time.Now()
	r.l.SetEpoch(t0)
	rec, err := results.NewRecorder(results.RecorderConfig{Start: t0, Horizon: s.Duration + s.Workload.Timeout + time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	hist := results.NewHistory(t0, r.opts.MaxHistory)
	lcfg := r.loadConfig(s.Duration, pacerFor(s.Workload.Rate))
	lcfg.Recorder, lcfg.History = rec, hist

	fmt.Fprintf(r.opts.Out, "load %v at %s from %s; %d timeline steps\n", s.Duration, describeRate(s.Workload.Rate), strings.Join(s.Workload.From, ", "), len(s.Timeline))
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var prof *profiler
	if r.opts.Profile {
		prof = newProfiler(r.l, r.dir, r.opts.Out)
		prof.start(runCtx, r.plan.steps, s.Duration)
	}
	sampler, err := health.Start(runCtx, health.Config{Start: t0})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer sampler.Stop()
	cpu0 := health.ProcessCPU()
	var wg sync.WaitGroup
	timelineErr := make(chan error, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		timelineErr <- r.plan.runTimeline(runCtx, r.l, r.opts.Out)
	}()
	printed := 0 // windows the progress lines have shown; owned by the progress goroutine until wg.Wait
	go func() {
		defer wg.Done()
		r.progress(runCtx, rec, sampler, t0, &printed)
	}()
	rep, loadErr := load.Run(runCtx, lcfg, op)
	loadCPU := health.ProcessCPU() - cpu0
	sampler.Stop()
	var profiles []results.Profile
	var profileNotes []string
	if prof != nil {
		profiles, profileNotes = prof.wait() // captures end within their windows, all inside the load
	}
	cancelRun()
	wg.Wait()
	r.flushProgress(rec, sampler, &printed)
	if r.opts.Live {
		fmt.Fprintln(r.opts.Out)
	}
	tlErr := <-timelineErr
	healErr := r.plan.healAll(context.Background(), r.l, r.opts.Out)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: interrupted: %v", ErrSetup, ctx.Err())
	}
	if loadErr != nil {
		return nil, fmt.Errorf("%w: load: %v", ErrSetup, loadErr)
	}
	// A step that failed means the run did not test what the scenario says: the verdict can be no better
	// than unknown, and the reason is in the summary.
	var scheduleProblems []string
	if tlErr != nil {
		scheduleProblems = append(scheduleProblems, tlErr.Error())
	}
	if healErr != nil {
		scheduleProblems = append(scheduleProblems, "heal: "+healErr.Error())
	}

	fmt.Fprintf(r.opts.Out, "drain %v, then check\n", s.Drain)
	sleepCtx(ctx, s.Drain)
	run := &results.Run{
		ID:          r.id,
		Scenario:    s.Name,
		Description: s.Description,
		Seed:        int64(s.Seed),
		Started:     t0,
		Duration:    s.Duration,
		Versions:    versions(),
		Replay:      r.opts.Replay,
		Commit:      Commit(),
		Load:        loadFigures(rep),
		Total:       rec.Total(),
		Windows:     rec.Windows(),
	}
	run.LabHealth = judgeHealth(run, sampler.Windows(), loadCPU, dueIn(lcfg.Pacer))
	ph := phases(s, r.l.Events())
	run.Phases = rec.Phases(ph)
	for i := range run.Phases {
		run.Phases[i].Health = results.HealthOver(run.Windows, run.Phases[i].Start, run.Phases[i].End)
	}
	if hist.Dropped() > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("history full: %d operations not kept (raise MaxHistory)", hist.Dropped()))
	}
	run.Notes = append(run.Notes, r.l.Notes()...)
	run.Notes = append(run.Notes, profileNotes...)
	run.Profiles = profiles
	run.Assertions = r.plan.check(ctx, r.l, &checkInput{run: run, hist: hist, workload: &r.workload, rec: rec, t0: t0, phases: ph}, r.opts.Out)
	if len(scheduleProblems) > 0 {
		run.Assertions = append(run.Assertions, results.AssertionResult{
			Name: "timeline", Verdict: results.Undecided, Observed: "a fault step failed",
			Limit: "every step injects and heals", Error: strings.Join(scheduleProblems, "; "),
		})
	}
	run.Events = r.l.Events()
	run.Decide()
	if err := results.WriteDir(r.dir, run, hist); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	if err := rec.SaveHistogramLog(r.dir); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	printVerdict(r.opts.Out, run, r.dir)
	return &Result{Dir: r.dir, Run: run}, nil
}

func (r *runner) loadConfig(d time.Duration, p load.Pacer) load.Config {
	c := load.DefaultConfig()
	c.Pacer = p
	c.Duration = d
	c.Timeout = r.s.Workload.Timeout
	c.MaxWorkers = r.s.Workload.MaxConnections
	c.Workers = min(64, c.MaxWorkers)
	return c
}

func constantPacer(rate scenarios.Rate) load.Pacer {
	if len(rate.Steps) > 0 {
		return load.ConstantPacer{Rate: rate.Steps[0].PerSecond}
	}
	return load.ConstantPacer{Rate: rate.PerSecond}
}

func pacerFor(rate scenarios.Rate) load.Pacer {
	switch {
	case len(rate.Steps) > 0:
		var steps []load.Step
		for _, s := range rate.Steps {
			steps = append(steps, load.Step{Rate: s.PerSecond, For: s.For})
		}
		return load.StepsPacer{Steps: steps}
	case rate.Over > 0:
		return load.LinearPacer{Start: rate.PerSecond, End: rate.To, Over: rate.Over}
	}
	return load.ConstantPacer{Rate: rate.PerSecond}
}

func describeRate(rate scenarios.Rate) string {
	switch {
	case len(rate.Steps) > 0:
		var parts []string
		for _, s := range rate.Steps {
			parts = append(parts, fmt.Sprintf("%g/s for %v", s.PerSecond, s.For))
		}
		return strings.Join(parts, ", then ")
	case rate.Over > 0:
		return fmt.Sprintf("%g/s ramping to %g/s over %v", rate.PerSecond, rate.To, rate.Over)
	}
	return fmt.Sprintf("%g/s", rate.PerSecond)
}

// judgeHealth attaches the sampler's figures to the run's windows, judges each against the
// saturation rule, and sums up the load phase: its health, the CPU each request cost the whole
// lab, and the peak RSS. loadCPU is the process's CPU time over the load (clients included);
// due says how many requests the schedule called for in a span, so that sends the generator
// never made count against the window like late ones. Windows the sampler measured but in which
// no request was sent (a stalled generator) are added, empty, so their health is on record.
func judgeHealth(run *results.Run, hw []results.Health, loadCPU time.Duration, due func(from, to time.Duration) uint64) *results.LabHealth {
	rule := results.DefaultSaturationRule()
	window := results.DefaultWindow
	for i := len(run.Windows); i < len(hw); i++ {
		from := time.Duration(i) * window
		run.Windows = append(run.Windows, results.Figures{Name: fmt.Sprintf("w%d", i), Start: from, End: from + window})
	}
	for i := range run.Windows {
		if i >= len(hw) || hw[i].Windows == 0 {
			continue
		}
		h := hw[i]
		w := &run.Windows[i]
		offered, late := w.Requests, w.Late
		if d := due(w.Start, w.End); d > offered {
			late += d - offered // due but never sent: missed
			offered = d
		}
		rule.Judge(&h, offered, late)
		w.Health = &h
	}
	lh := &results.LabHealth{Rule: rule.String(), Load: results.HealthOver(run.Windows, 0, run.Duration), PeakRSS: health.PeakRSS()}
	run.Total.Health = lh.Load
	if run.Load != nil && run.Load.Requests > 0 {
		lh.CPUPerOp = loadCPU / time.Duration(run.Load.Requests)
	}
	return lh
}

// dueIn returns how many requests the pacer called for in [from, to), or 0 when it cannot say.
func dueIn(p load.Pacer) func(from, to time.Duration) uint64 {
	h, ok := p.(load.Hitter)
	return func(from, to time.Duration) uint64 {
		if !ok || to <= from {
			return 0
		}
		n := h.Hits(to - 1)
		if from > 0 {
			n -= min(n, h.Hits(from-1))
		}
		return n
	}
}

// progress prints one line per one-second window of the load, once the window is complete: every request
// due in it has had its full timeout to finish (a line printed earlier showed a window still filling, e.g.
// 16 req/s for a second that ended with 2,000). Ticks the process missed are caught up; next is the first
// window not printed yet (flushProgress prints the rest after the load).
func (r *runner) progress(ctx context.Context, rec *results.Recorder, sampler *health.Sampler, t0 time.Time, next *int) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		complete := int((time.Since(t0) - r.l.s.Workload.Timeout) / time.Second)
		r.printWindows(rec, sampler, next, complete)
	}
}

// flushProgress prints the windows the live progress did not reach (the load is over, all are complete).
func (r *runner) flushProgress(rec *results.Recorder, sampler *health.Sampler, next *int) {
	r.printWindows(rec, sampler, next, len(rec.Windows()))
}

// printWindows prints windows *next up to (not including) upTo and advances *next. Each line describes
// its own second: the leader at its end and the faults active in it come from the run's events, the lab's
// health from the sampler's figures for that window.
func (r *runner) printWindows(rec *results.Recorder, sampler *health.Sampler, next *int, upTo int) {
	wins := rec.Windows()
	upTo = min(upTo, len(wins), int(r.l.s.Duration/time.Second))
	if *next >= upTo {
		return
	}
	events := append(r.l.Events(), r.plan.running()...)
	for ; *next < upTo; *next++ {
		idx := *next
		w := wins[idx]
		from, to := time.Duration(idx)*time.Second, time.Duration(idx+1)*time.Second
		lab := ""
		if h, ok := sampler.Window(idx); ok {
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

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func loadFigures(rep *load.Report) *results.LoadFigures {
	if rep == nil {
		return nil
	}
	return &results.LoadFigures{
		Model: rep.Model, Pacer: rep.Pacer, SendWindow: rep.SendWindow, Requests: rep.Requests, Due: rep.Due,
		Missed: rep.Missed, Late: rep.Late, TargetRate: rep.TargetRate, Rate: rep.Rate, PeakWorkers: rep.PeakWorkers,
		MaxWorkers: rep.MaxWorkers, Limited: rep.Limited, LimitReason: rep.LimitReason,
		SendLag: results.LatencyOf(rep.SendLag), Service: results.LatencyOf(rep.Service),
	}
}

// phases are the run's phases in the vocabulary of results.StandardPhases, shared with the checkers.
func phases(s *scenarios.Scenario, events []results.Event) []results.Phase {
	return results.StandardPhases(s.Duration, s.Workload.Timeout, events)
}

func versions() map[string]string {
	v := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v["go"] = bi.GoVersion
		v["paylab"] = bi.Main.Version
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/hashicorp/raft", "go.etcd.io/bbolt", "github.com/Shopify/toxiproxy/v2", "github.com/hashicorp/raft-boltdb/v2":
				v[d.Path] = d.Version
			}
		}
	}
	return v
}

func printVerdict(w io.Writer, run *results.Run, dir string) {
	results.WriteVerdict(w, run, dir, results.TerminalWidth(w))
}
