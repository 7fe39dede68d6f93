package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"paylab/results"
	"paylab/scenarios"
)

// Bounds of a sweep.
const (
	MaxSweepRuns    = 200
	MaxSweepRepeats = 20
)

// sweepKeys are the scenario fields a sweep may vary, each with how to set it from text (a fixed table).
var sweepKeys = map[string]func(s *scenarios.Scenario, v string) error{
	"seed": func(s *scenarios.Scenario, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		s.Seed = n
		return err
	},
	"duration":                          durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Duration }),
	"topology.latency.zone":             durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Topology.Latency.Zone }),
	"topology.latency.region":           durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Topology.Latency.Region }),
	"topology.ledger.election_timeout":  durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Topology.Ledger.ElectionTimeout }),
	"topology.ledger.heartbeat_timeout": durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Topology.Ledger.HeartbeatTimeout }),
	"topology.dns.ttl":                  durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Topology.DNS.TTL }),
	"topology.dns.health_interval":      durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Topology.DNS.HealthInterval }),
	"workload.timeout":                  durationKey(func(s *scenarios.Scenario) *time.Duration { return &s.Workload.Timeout }),
	"workload.rate": func(s *scenarios.Scenario, v string) error {
		r, err := scenarios.ParseRate(v)
		s.Workload.Rate = scenarios.Rate{PerSecond: r}
		return err
	},
}

func durationKey(field func(*scenarios.Scenario) *time.Duration) func(*scenarios.Scenario, string) error {
	return func(s *scenarios.Scenario, v string) error {
		d, err := time.ParseDuration(v)
		*field(s) = d
		return err
	}
}

// SweepKeys lists, sorted, the scenario fields a sweep may vary.
func SweepKeys() []string {
	ks := make([]string, 0, len(sweepKeys))
	for k := range sweepKeys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// SweepAxis is one field a sweep varies and the values it takes.
type SweepAxis struct {
	Key    string
	Values []string
}

// ParseSweepAxis reads "KEY=V1,V2,…". Errors: not of that form, or a key SweepKeys does not list.
func ParseSweepAxis(v string) (SweepAxis, error) {
	key, vals, ok := strings.Cut(v, "=")
	if !ok || vals == "" {
		return SweepAxis{}, fmt.Errorf("want KEY=V1,V2,… got %q", v)
	}
	if _, known := sweepKeys[key]; !known {
		return SweepAxis{}, fmt.Errorf("cannot sweep %q (keys: %s)", key, strings.Join(SweepKeys(), ", "))
	}
	return SweepAxis{Key: key, Values: strings.Split(vals, ",")}, nil
}

// Sweep runs one scenario file for every combination of its axes' values, Repeat times each (the seed grows
// by one per repeat), one run after another, each in its own run directory under Dir.
type Sweep struct {
	File   string
	Axes   []SweepAxis
	Repeat int
	// OnRun, when set, is called before each run (n of total, 1-based) and after it with its row.
	OnRun  func(n, total int, combo string, repeat int)
	OnDone func(row results.SweepRow)
}

// Combos returns every combination of the axes' values, in axis order. Errors: no axis, Repeat outside
// 1..MaxSweepRepeats, more than MaxSweepRuns runs.
func (sw *Sweep) Combos() ([][]string, error) {
	if len(sw.Axes) == 0 {
		return nil, fmt.Errorf("give at least one --set KEY=V1,V2")
	}
	if sw.Repeat < 1 || sw.Repeat > MaxSweepRepeats {
		return nil, fmt.Errorf("--repeat %d must be in 1..%d", sw.Repeat, MaxSweepRepeats)
	}
	combos := [][]string{{}}
	for _, ax := range sw.Axes {
		var next [][]string
		for _, c := range combos {
			for _, v := range ax.Values {
				next = append(next, append(slices.Clone(c), v))
			}
		}
		combos = next
	}
	if n := len(combos) * sw.Repeat; n > MaxSweepRuns {
		return nil, fmt.Errorf("%d combinations × %d repeats = %d runs, at most %d", len(combos), sw.Repeat, n, MaxSweepRuns)
	}
	return combos, nil
}

// Describe names a combination: "key=value key=value".
func (sw *Sweep) Describe(combo []string) string {
	parts := make([]string, len(sw.Axes))
	for i, ax := range sw.Axes {
		parts[i] = ax.Key + "=" + combo[i]
	}
	return strings.Join(parts, " ")
}

// plan loads the file, applies one combination and repeat, and prepares the run, refusing it as run
// would.
func (sw *Sweep) plan(combo []string, repeat int) (*Plan, error) {
	s, pos, err := scenarios.LoadNamedChecked(sw.File, Check)
	if err != nil {
		return nil, err
	}
	for i, ax := range sw.Axes {
		if err := sweepKeys[ax.Key](s, combo[i]); err != nil {
			return nil, fmt.Errorf("%s=%s: %v", ax.Key, combo[i], err)
		}
	}
	s.Seed += uint64(repeat)
	if errs := append(s.Validate(), Check(s, pos)...); len(errs) > 0 {
		return nil, fmt.Errorf("with %s: %v", sw.Describe(combo), errs[0])
	}
	p, err := Prepare(s, pos)
	if err != nil {
		return nil, fmt.Errorf("with %s: %v", sw.Describe(combo), err)
	}
	return p, nil
}

// Check refuses the sweep before anything runs: every combination must make a scenario run accepts.
func (sw *Sweep) Check() error {
	combos, err := sw.Combos()
	if err != nil {
		return err
	}
	for _, c := range combos {
		if _, err := sw.plan(c, 0); err != nil {
			return err
		}
	}
	return nil
}

// Run checks the sweep, then runs it under runsDir/<UTC time>-sweep-<name>/ and returns that directory
// and one row per run, with sweep.csv written there. It stops at the first run that cannot start, or when
// ctx ends.
func (sw *Sweep) Run(ctx context.Context, runsDir string) (string, []results.SweepRow, error) {
	if err := sw.Check(); err != nil {
		return "", nil, err
	}
	combos, _ := sw.Combos()
	dir := filepath.Join(runsDir, time.Now().UTC().Format("20060102T150405Z")+"-sweep-"+filepath.Base(strings.TrimSuffix(sw.File, ".yaml")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("sweep: %w", err)
	}
	var rows []results.SweepRow
	total := len(combos) * sw.Repeat
	for ci, c := range combos {
		for r := range sw.Repeat {
			if err := ctx.Err(); err != nil {
				return dir, rows, err
			}
			n := ci*sw.Repeat + r + 1
			if sw.OnRun != nil {
				sw.OnRun(n, total, sw.Describe(c), r+1)
			}
			row, err := sw.runOne(ctx, dir, c, r)
			if err != nil {
				return dir, rows, fmt.Errorf("sweep run %d (%s): %w", n, sw.Describe(c), err)
			}
			rows = append(rows, row)
			if sw.OnDone != nil {
				sw.OnDone(row)
			}
		}
	}
	return dir, rows, sw.writeCSV(dir, rows)
}

// runOne runs one combination and repeat and turns its summary into a row.
func (sw *Sweep) runOne(ctx context.Context, dir string, combo []string, repeat int) (results.SweepRow, error) {
	p, err := sw.plan(combo, repeat)
	if err != nil {
		return results.SweepRow{}, err
	}
	res, err := p.Run(ctx, RunOptions{RunsDir: dir})
	if err != nil {
		return results.SweepRow{}, err
	}
	run := res.Run
	row := results.SweepRow{Combo: combo, Repeat: repeat + 1, RunID: run.ID, Verdict: run.Verdict, Values: map[string]float64{}}
	if lh := run.LabHealth; lh != nil && lh.Load != nil {
		row.Saturated = lh.Load.Saturated > 0
	}
	for _, a := range run.Assertions {
		if a.Value != nil {
			col := a.Name
			if a.Phase != "" {
				col += "[" + a.Phase + "]"
			}
			row.Values[col] = *a.Value
		}
	}
	row.Values["p99_all_s"] = run.Total.Latency.P99.Seconds()
	row.Values["error_rate_all"] = run.Total.ErrorRate
	return row, nil
}

func (sw *Sweep) writeCSV(dir string, rows []results.SweepRow) error {
	keys := make([]string, len(sw.Axes))
	for i, ax := range sw.Axes {
		keys[i] = ax.Key
	}
	f, err := os.Create(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := results.WriteSweepCSV(f, keys, results.SweepColumns(rows), rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteCharts draws one SVG per figure column into dir: the first axis along x, one series per
// combination of the others, every repeat's value at its x. It returns the files written.
func (sw *Sweep) WriteCharts(dir string, rows []results.SweepRow) ([]string, error) {
	var paths []string
	first := sw.Axes[0]
	for _, col := range results.SweepColumns(rows) {
		var series []results.SweepSeries
		index := map[string]int{}
		for _, rw := range rows {
			v, ok := rw.Values[col]
			if !ok {
				continue
			}
			name := "all runs"
			if len(sw.Axes) > 1 {
				rest := &Sweep{Axes: sw.Axes[1:]}
				name = rest.Describe(rw.Combo[1:])
			}
			si, seen := index[name]
			if !seen {
				si = len(series)
				index[name] = si
				series = append(series, results.SweepSeries{Name: name, Values: make([][]float64, len(first.Values))})
			}
			xi := max(0, slices.Index(first.Values, rw.Combo[0]))
			series[si].Values[xi] = append(series[si].Values[xi], v)
		}
		unit := "seconds"
		if strings.HasPrefix(col, "error_rate") {
			unit = "fraction of requests"
		}
		svg, err := results.SweepChart(fmt.Sprintf("%s: %s", filepath.Base(sw.File), col), first.Key, unit, first.Values, series)
		if err != nil {
			return paths, err
		}
		path := filepath.Join(dir, "sweep-"+strings.NewReplacer("[", "-", "]", "", ":", "-", "/", "-").Replace(col)+".svg")
		if err := os.WriteFile(path, svg, 0o644); err != nil {
			return paths, fmt.Errorf("sweep: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
