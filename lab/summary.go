package lab

import (
	"fmt"
	"runtime/debug"
	"time"

	"paylab/lab/health"
	"paylab/lab/load"
	"paylab/results"
)

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

// summarize is the run's summary from what the measurement saw — the load's figures per window and
// phase, the lab's health, notes — and the run's phases in the vocabulary of results.StandardPhases,
// shared with the checkers. Assertions and events are the caller's to add.
func (r *runner) summarize(m *measurement) (*results.Run, []results.Phase) {
	s := r.s
	run := &results.Run{
		ID:          r.id,
		Scenario:    s.Name,
		Description: s.Description,
		Seed:        int64(s.Seed),
		Started:     m.t0,
		Duration:    s.Duration,
		Versions:    versions(),
		Replay:      r.opts.Replay,
		Commit:      Commit(),
		Load:        m.report.Figures(),
		Total:       m.rec.Total(),
		Windows:     m.rec.Windows(),
	}
	run.LabHealth = judgeHealth(run, m.sampler.Windows(), m.loadCPU, dueIn(m.pacer))
	for i := range run.Windows {
		if i < len(m.backend) {
			run.Windows[i].Backend = &m.backend[i]
		}
	}
	phases := results.StandardPhases(s.Duration, s.Workload.Timeout, r.l.Events())
	run.Phases = m.rec.Phases(phases)
	for i := range run.Phases {
		run.Phases[i].Health = results.HealthOver(run.Windows, run.Phases[i].Start, run.Phases[i].End)
	}
	if m.hist.Dropped() > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("history full: %d operations not kept (raise MaxHistory)", m.hist.Dropped()))
	}
	run.Notes = append(run.Notes, r.l.Notes()...)
	run.Notes = append(run.Notes, m.profileNotes...)
	run.Profiles = m.profiles
	return run, phases
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
