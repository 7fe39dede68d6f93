package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"paylab/results"
)

// SuiteConfig sets up a suite run (`paylab suite`): scenarios run one after another, each in a lab of its
// own (built, run and torn down before the next starts), into Dir.
type SuiteConfig struct {
	// Names are library names or scenario files, in order.
	Names []string
	// Dir is the suite's directory: runs/ under it holds each scenario's run directory; junit.xml and
	// index.html are the caller's to write there (results.WriteSuiteJUnit, WriteSuiteIndex).
	Dir string
	// Out receives one progress line per scenario (with an estimate of the time left); each run's own
	// output goes to runs/<id>.log.
	Out io.Writer
	// NoRerun turns off the one re-run a scenario gets when its verdict is unknown because the lab was
	// saturated (the flake policy in docs/SCENARIOS.md; money, ack and convergence verdicts are never
	// re-run, and a failure never is).
	NoRerun bool
	// ToxiproxyURL drives an external toxiproxy-server, as RunOptions.ToxiproxyURL.
	ToxiproxyURL string
	// Annotate adds a GitHub Actions workflow command (::error::) per assertion not as expected and per
	// scenario that could not be set up (set when GITHUB_ACTIONS=true).
	Annotate bool
}

// suiteOverhead is what a run costs beyond its scenario's warm-up, duration and drain (building the lab,
// final recovery, export, checks, report), for the time-left estimate before any run has finished.
const suiteOverhead = 8 * time.Second

// RunSuite runs every scenario of cfg in order and returns an entry per scenario. A scenario that does
// not load or cannot be set up is an entry with Err (the suite goes on); only a cancelled ctx stops it,
// returning the entries so far and ctx's error.
func RunSuite(ctx context.Context, cfg SuiteConfig) ([]results.SuiteEntry, error) {
	runs := filepath.Join(cfg.Dir, "runs")
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return nil, fmt.Errorf("suite directory: %w", err)
	}
	// Each scenario is loaded and prepared once for the estimate and its run; a re-run prepares afresh (a
	// plan's fault steps carry the state of their injection, so each run gets its own, as a sweep's do).
	plans := make([]*Plan, len(cfg.Names))
	loadErrs := make([]error, len(cfg.Names))
	estimate := make([]time.Duration, len(cfg.Names))
	for i, name := range cfg.Names {
		estimate[i] = suiteOverhead
		if _, _, plans[i], loadErrs[i] = Load(name); loadErrs[i] == nil {
			s := plans[i].Scenario()
			estimate[i] += s.Warmup + s.Duration + s.Drain
		}
	}
	var entries []results.SuiteEntry
	var spent, planned time.Duration // wall time so far, and what the estimate said it would be
	for i, name := range cfg.Names {
		if err := ctx.Err(); err != nil {
			return entries, err
		}
		start := time.Now()
		e := results.SuiteEntry{Name: name, Err: errText(loadErrs[i])}
		if loadErrs[i] == nil {
			e = runSuiteEntry(ctx, cfg, runs, name, plans[i])
		}
		e.Took = time.Since(start)
		entries = append(entries, e)
		spent, planned = spent+e.Took, planned+estimate[i]
		var left time.Duration
		for _, d := range estimate[i+1:] {
			left += d
		}
		if planned > 0 {
			left = time.Duration(float64(left) * float64(spent) / float64(planned)) // scaled by how the estimate fared
		}
		fmt.Fprintf(cfg.Out, "[%d/%d] %-32s %-7s %5.0fs%s   about %v left\n", i+1, len(cfg.Names), name, e.Verdict(), e.Took.Seconds(),
			rerunNote(e), left.Round(time.Second))
		if cfg.Annotate {
			annotate(cfg.Out, e)
		}
	}
	return entries, nil
}

// annotate writes GitHub Actions ::error:: lines for an entry (workflow commands: the message's newlines
// and percent signs escaped as the runner expects).
func annotate(w io.Writer, e results.SuiteEntry) {
	esc := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	if e.Run == nil {
		fmt.Fprintf(w, "::error title=paylab %s::%s\n", e.Name, esc.Replace("setup failed: "+e.Err))
		return
	}
	for _, a := range e.Run.Assertions {
		if !a.Passed() {
			fmt.Fprintf(w, "::error title=paylab %s: %s::%s\n", e.Name, a.Label(), esc.Replace(fmt.Sprintf("%s (want %s): observed %s, limit %s", a.Verdict, expectedVerdict(a), a.Observed, a.Limit)))
		}
	}
}

func expectedVerdict(a results.AssertionResult) results.Verdict {
	if a.Expected == "" {
		return results.Pass
	}
	return a.Expected
}

func rerunNote(e results.SuiteEntry) string {
	if e.Rerun == "" {
		return ""
	}
	return "  (re-run once: " + e.Rerun + ")"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// runSuiteEntry runs one scenario's plan, and runs it once more, from a fresh plan, when its verdict is
// unknown and its lab was saturated (unless cfg.NoRerun): the second run's verdict stands, and the entry
// says why it was re-run.
func runSuiteEntry(ctx context.Context, cfg SuiteConfig, runs, name string, plan *Plan) results.SuiteEntry {
	e := results.SuiteEntry{Name: name}
	run := func() (*Result, error) {
		if plan == nil {
			var err error
			if _, _, plan, err = Load(name); err != nil {
				return nil, err
			}
		}
		defer func() { plan = nil }() // used up: a re-run prepares its own
		log, err := os.CreateTemp(runs, logName(name)+"-*.log")
		if err != nil {
			return nil, fmt.Errorf("run log: %w", err)
		}
		defer log.Close()
		return plan.Run(ctx, RunOptions{RunsDir: runs, Out: log, ToxiproxyURL: cfg.ToxiproxyURL, Replay: ReplayCommand(name, plan.Scenario().Seed, 0)})
	}
	res, err := run()
	if err == nil && !cfg.NoRerun && res.Run.Verdict == results.Undecided && saturated(res.Run) {
		e.Rerun = res.Run.LabHealth.Load.SaturatedText()
		res, err = run()
	}
	if err != nil {
		e.Err = err.Error()
		return e
	}
	e.Run = res.Run
	if rel, err := filepath.Rel(cfg.Dir, res.Dir); err == nil {
		e.Dir = rel
	}
	return e
}

// logName is a file-name-safe form of a scenario's name or path.
func logName(name string) string {
	name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// saturated reports whether any window of the run's load was saturated.
func saturated(r *results.Run) bool {
	return r.LabHealth != nil && r.LabHealth.Load != nil && r.LabHealth.Load.Saturated > 0
}
