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
	"strings"
	"sync"
	"time"

	"paylab/assertions"
	"paylab/faults"
	"paylab/lab/health"
	"paylab/lab/load"
	"paylab/nodes/ledger/client"
	"paylab/regions"
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

// withDefaults fills in the options left out.
func (o RunOptions) withDefaults(s *scenarios.Scenario) RunOptions {
	if o.RunsDir == "" {
		o.RunsDir = "runs"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = 2_000_000
	}
	if o.Replay == "" {
		o.Replay = ReplayCommand(s.Name, s.Seed, 0)
	}
	return o
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

// Result is what a run produced.
type Result struct {
	// Dir is the run directory.
	Dir string
	// Run is the summary written to Dir.
	Run *results.Run
}

// ErrSetup marks a failure to build or drive the lab (exit code 2), as opposed to a failed assertion.
var ErrSetup = errors.New("setup failed")

func setupErr(what string, err error) error {
	if what == "" {
		return fmt.Errorf("%w: %v", ErrSetup, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrSetup, what, err)
}

// Run prepares the scenario (Prepare) and runs the plan (Plan.Run).
func Run(ctx context.Context, s *scenarios.Scenario, pos scenarios.Positions, opts RunOptions) (*Result, error) {
	p, err := Prepare(s, pos)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx, opts)
}

// Run executes the plan end to end: build the lab, warm up, measure (the load and the timeline on one
// clock), heal, drain, bring back every node a fault left down, export the replicas, judge, write. It
// returns an error wrapping ErrSetup when the lab could not be built or driven; a run whose assertions
// fail returns a Result with a failing verdict and no error. Every fault is healed and every part stopped
// before it returns, whatever happened.
func (p *Plan) Run(ctx context.Context, opts RunOptions) (*Result, error) {
	s := p.s
	opts = opts.withDefaults(s)
	id, dir, err := newRunDir(opts.RunsDir, s.Name)
	if err != nil {
		return nil, setupErr("", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), s.Source, 0o644); err != nil {
		return nil, setupErr("", err)
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
		return nil, setupErr("", err)
	}
	defer l.Close()
	r := &runner{l: l, s: s, plan: p, opts: opts, id: id, dir: dir, workload: newWorkload(s)}
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

// runner is one run of a plan on a built lab.
type runner struct {
	l        *Lab
	s        *scenarios.Scenario
	plan     *Plan
	opts     RunOptions
	id       string
	dir      string
	workload load.Workload
	// timeline is the plan's steps bound to the lab; set before the measurement starts, never changed.
	timeline *faults.Timeline
}

// run is the run's story, top to bottom, on a built lab.
func (r *runner) run(ctx context.Context) (*Result, error) {
	target, closeTarget, err := r.l.newTarget(ctx)
	if err != nil {
		return nil, setupErr("", err)
	}
	defer closeTarget()
	op, err := r.workload.Op(target)
	if err != nil {
		return nil, setupErr("workload", err)
	}
	if err := r.warmUp(ctx, target); err != nil {
		return nil, setupErr("warm-up", err)
	}
	if r.timeline, err = faults.NewTimeline(r.l, r.plan.steps); err != nil {
		return nil, setupErr("timeline", err)
	}
	// Whatever happens from here — a failed step, Ctrl-C, a panic — every fault is healed before the lab
	// stops (a healed fault heals again as a no-op).
	defer func() {
		if err := r.heal(); err != nil {
			fmt.Fprintf(r.opts.Out, "heal on exit: %v\n", err)
		}
	}()
	m, err := r.measure(ctx, op)
	if err != nil {
		return nil, err
	}
	healErr := r.heal()
	if ctx.Err() != nil {
		return nil, setupErr("interrupted", ctx.Err())
	}
	if m.loadErr != nil {
		return nil, setupErr("load", m.loadErr)
	}
	fmt.Fprintf(r.opts.Out, "drain %v, then check\n", r.s.Drain)
	client.Sleep(ctx, r.s.Drain)
	run, phases := r.summarize(m)
	restarted := r.l.finalRecovery(ctx, r.opts.Out)
	replicas := r.export(ctx, restarted)
	run.Assertions = r.plan.judge(r.input(run, m, phases, replicas))
	run.Assertions = append(run.Assertions, scheduleResult(m.timelineErr, healErr)...)
	run.Events = r.l.Events()
	run.Decide()
	return r.write(run, m)
}

// newWorkload is the scenario's workload, with transfer ids unique to this run.
func newWorkload(s *scenarios.Scenario) load.Workload {
	var prefix [3]byte
	_, _ = rand.Read(prefix[:])
	return load.Workload{
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
}

// warmUp drives the scenario's warm-up, if it has one. The warm-up only reads: it opens connections and
// warms caches without moving money, so the state at the start of the measured run is the opening state
// the checkers model.
func (r *runner) warmUp(ctx context.Context, target load.Target) error {
	s := r.s
	if s.Warmup <= 0 {
		return nil
	}
	fmt.Fprintf(r.opts.Out, "warm-up %v at %s\n", s.Warmup, describeRate(s.Workload.Rate))
	warm := r.workload
	warm.Mix = load.Mix{Read: 1}
	warm.Duplicates = 0
	op, err := warm.Op(target)
	if err != nil {
		return err
	}
	_, err = load.Run(ctx, r.loadConfig(s.Warmup, constantPacer(s.Workload.Rate)), op)
	return err
}

// measurement is what the measured part of a run saw.
type measurement struct {
	t0           time.Time // the run's epoch: offset 0 of the load, the timeline and every event
	rec          *results.Recorder
	hist         *results.History
	sampler      *health.Sampler
	pacer        load.Pacer
	report       *load.Report
	loadErr      error
	timelineErr  error
	loadCPU      time.Duration     // the process's CPU time over the load
	backend      []results.Backend // per window: what happened behind the gateways
	profiles     []results.Profile
	profileNotes []string
}

// measure drives the load and the timeline from one epoch, with the lab's health sampled, a progress line
// per second and, with RunOptions.Profile, captures in each fault window. It returns when the load is
// over and everything it started has stopped; errors are setup errors only (the load's and the timeline's
// own are in the measurement).
func (r *runner) measure(ctx context.Context, op load.OpFunc) (*measurement, error) {
	s := r.s
	m := &measurement{t0: time.Now(), pacer: pacerFor(s.Workload.Rate)}
	r.l.SetEpoch(m.t0)
	rec, err := results.NewRecorder(results.RecorderConfig{Start: m.t0, Horizon: s.Duration + s.Workload.Timeout + time.Second})
	if err != nil {
		return nil, setupErr("", err)
	}
	m.rec, m.hist = rec, results.NewHistory(m.t0, r.opts.MaxHistory)
	cfg := r.loadConfig(s.Duration, m.pacer)
	cfg.Recorder, cfg.History = m.rec, m.hist
	fmt.Fprintf(r.opts.Out, "load %v at %s from %s; %d timeline steps\n", s.Duration, describeRate(s.Workload.Rate), strings.Join(s.Workload.From, ", "), len(s.Timeline))

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var prof *profiler
	if r.opts.Profile {
		prof = newProfiler(r.l, r.dir, r.opts.Out)
		prof.start(runCtx, r.plan.steps, s.Duration)
	}
	if m.sampler, err = health.Start(runCtx, health.Config{Start: m.t0, Children: r.l.ChildPIDs}); err != nil {
		return nil, setupErr("", err)
	}
	defer m.sampler.Stop()
	cpu0 := health.ProcessCPU() + health.ChildrenCPU(r.l.ChildPIDs()) // the lab's redis-servers are its own cost
	backendCtx, stopBackend := context.WithCancel(runCtx)
	backend := r.l.sampleBackend(backendCtx, m.t0)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		m.timelineErr = r.timeline.Run(runCtx)
	}()
	printed := 0 // windows the progress lines have shown; owned by the progress goroutine until wg.Wait
	go func() {
		defer wg.Done()
		r.progress(runCtx, m, &printed)
	}()
	m.report, m.loadErr = load.Run(runCtx, cfg, op)
	m.loadCPU = health.ProcessCPU() + health.ChildrenCPU(r.l.ChildPIDs()) - cpu0
	m.sampler.Stop()
	stopBackend()
	m.backend = <-backend
	if prof != nil {
		m.profiles, m.profileNotes = prof.wait() // captures end within their windows, all inside the load
	}
	cancelRun()
	wg.Wait()
	r.flushProgress(m, &printed)
	return m, nil
}

// heal heals whatever is still active (also on the exit path, after Ctrl-C: with a context of its own).
func (r *runner) heal() error {
	if r.timeline == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*faults.StepTimeout)
	defer cancel()
	return r.timeline.HealAll(ctx)
}

// scheduleResult is the "timeline" result of a run in which a step or the final heal failed, or nothing.
// Such a run did not test what the scenario says: the verdict can be no better than unknown, and the
// reason is in the summary.
func scheduleResult(timelineErr, healErr error) []results.AssertionResult {
	var problems []string
	if timelineErr != nil {
		problems = append(problems, timelineErr.Error())
	}
	if healErr != nil {
		problems = append(problems, "heal: "+healErr.Error())
	}
	if len(problems) == 0 {
		return nil
	}
	return []results.AssertionResult{{
		Name: "timeline", Verdict: results.Undecided, Observed: "a fault step failed",
		Limit: "every step injects and heals", Error: strings.Join(problems, "; "),
	}}
}

// export waits for the replicas to converge — as long as the assertions ask (Plan.convergeWithin) — and
// exports every replica, recording for each node the final recovery restarted whether it caught up.
func (r *runner) export(ctx context.Context, restarted []regions.NodeID) []assertions.Replica {
	within := r.plan.convergeWithin()
	converged, reps := r.l.exportConverged(ctx, within)
	if !converged {
		fmt.Fprintf(r.opts.Out, "  replicas did not converge within %v\n", within)
	}
	r.l.noteCaughtUp(restarted, converged, within)
	return reps
}

// input is what the checkers judge: the run's figures and history, the exported replicas, and the
// topology's ledger nodes as the expected set, so a replica that is missing or unreadable is named.
func (r *runner) input(run *results.Run, m *measurement, phases []results.Phase, reps []assertions.Replica) *assertions.Input {
	var expected []string
	for _, n := range r.s.Topology.LedgerNodes() {
		expected = append(expected, LedgerName(n.ID))
	}
	return &assertions.Input{
		Start:          m.t0,
		Accounts:       assertions.Accounts{Count: r.s.Accounts.Count, Balance: r.s.Accounts.Balance},
		History:        m.hist,
		Replicas:       reps,
		Nodes:          expected,
		Total:          run.Total,
		Windows:        run.Windows,
		Phases:         phases,
		PhaseFigures:   run.Phases,
		Spans:          m.rec,
		Events:         r.l.Events(),
		TransferID:     r.workload.TransferID,
		RequestTimeout: r.s.Workload.Timeout,
	}
}

// write writes the run directory and prints the verdict.
func (r *runner) write(run *results.Run, m *measurement) (*Result, error) {
	if err := results.WriteDir(r.dir, run, m.hist); err != nil {
		return nil, setupErr("", err)
	}
	if err := m.rec.SaveHistogramLog(r.dir); err != nil {
		return nil, setupErr("", err)
	}
	results.WriteVerdict(r.opts.Out, run, r.dir, results.TerminalWidth(r.opts.Out))
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
