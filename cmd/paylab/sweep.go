package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"paylab/lab"
	"paylab/results"
	"paylab/scenarios"
)

// Bounds of a sweep.
const (
	maxSweepRuns    = 200
	maxSweepRepeats = 20
)

// sweepKeys are the scenario fields a sweep may vary, each with how to set it from text.
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

// sweepAxis is one --set: a key and the values it takes.
type sweepAxis struct {
	key    string
	values []string
}

type setFlags []sweepAxis

func (f *setFlags) String() string { return fmt.Sprint(*f) }

func (f *setFlags) Set(v string) error {
	key, vals, ok := strings.Cut(v, "=")
	if !ok || vals == "" {
		return fmt.Errorf("want KEY=V1,V2,… got %q", v)
	}
	if _, known := sweepKeys[key]; !known {
		return fmt.Errorf("cannot sweep %q (keys: %s)", key, strings.Join(sortedSweepKeys(), ", "))
	}
	*f = append(*f, sweepAxis{key: key, values: strings.Split(vals, ",")})
	return nil
}

func sortedSweepKeys() []string {
	var ks []string
	for k := range sweepKeys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func runSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab sweep", flag.ContinueOnError)
	var axes setFlags
	fs.Var(&axes, "set", "KEY=V1,V2,… a field to vary (repeatable; every combination runs); keys: "+strings.Join(sortedSweepKeys(), ", "))
	repeat := fs.Int("repeat", 3, "runs of each combination (the seed grows by one per repeat)")
	out := fs.String("out", "runs", "directory for the sweep's directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab sweep <scenario> --set KEY=V1,V2 [--set …] [--repeat N]\n\nRuns a scenario for every combination of the values given, N times each, and writes sweep.csv (one row per\nrun: the values, the verdict and every assertion's observed figure) beside the runs, then prints the median\nand worst of each figure per combination.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: sweep takes one scenario", errUsage)
	}
	if len(axes) == 0 {
		return fmt.Errorf("%w: give at least one --set KEY=V1,V2", errUsage)
	}
	if *repeat < 1 || *repeat > maxSweepRepeats {
		return fmt.Errorf("%w: --repeat %d must be in 1..%d", errUsage, *repeat, maxSweepRepeats)
	}
	combos := [][]string{{}}
	for _, ax := range axes {
		var next [][]string
		for _, c := range combos {
			for _, v := range ax.values {
				next = append(next, append(append([]string(nil), c...), v))
			}
		}
		combos = next
	}
	if n := len(combos) * *repeat; n > maxSweepRuns {
		return fmt.Errorf("%w: %d combinations × %d repeats = %d runs, at most %d", errUsage, len(combos), *repeat, n, maxSweepRuns)
	}
	// Check every combination before running any.
	build := func(c []string, r int) (*scenarios.Scenario, scenarios.Positions, error) {
		s, pos, _, err := lab.Load(fs.Arg(0))
		if err != nil {
			return nil, pos, err
		}
		for i, ax := range axes {
			if err := sweepKeys[ax.key](s, c[i]); err != nil {
				return nil, pos, fmt.Errorf("%s=%s: %v", ax.key, c[i], err)
			}
		}
		s.Seed += uint64(r)
		if errs := append(s.Validate(), lab.Check(s, pos)...); len(errs) > 0 {
			return nil, pos, fmt.Errorf("with %s: %v", describeCombo(axes, c), errs[0])
		}
		if _, err := lab.Prepare(s, pos); err != nil {
			return nil, pos, fmt.Errorf("with %s: %v", describeCombo(axes, c), err)
		}
		return s, pos, nil
	}
	for _, c := range combos {
		if _, _, err := build(c, 0); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	dir := filepath.Join(*out, time.Now().UTC().Format("20060102T150405Z")+"-sweep-"+filepath.Base(strings.TrimSuffix(fs.Arg(0), ".yaml")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	type row struct {
		combo   []string
		repeat  int
		id      string
		verdict results.Verdict
		values  map[string]float64
	}
	var rows []row
	columns := map[string]bool{}
	total := len(combos) * *repeat
	for ci, c := range combos {
		for r := 0; r < *repeat; r++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s, pos, err := build(c, r)
			if err != nil {
				return err
			}
			n := ci**repeat + r + 1
			fmt.Fprintf(stdout, "[%d/%d] %s repeat %d … ", n, total, describeCombo(axes, c), r+1)
			res, err := lab.Run(ctx, s, pos, lab.RunOptions{RunsDir: dir})
			if err != nil {
				return fmt.Errorf("sweep run %d (%s): %w", n, describeCombo(axes, c), err)
			}
			rw := row{combo: c, repeat: r + 1, id: res.Run.ID, verdict: res.Run.Verdict, values: map[string]float64{}}
			for _, a := range res.Run.Assertions {
				if a.Value != nil {
					col := a.Name
					if a.Phase != "" {
						col += "[" + a.Phase + "]"
					}
					rw.values[col] = *a.Value
					columns[col] = true
				}
			}
			rw.values["p99_all_s"] = res.Run.Total.Latency.P99.Seconds()
			rw.values["error_rate_all"] = res.Run.Total.ErrorRate
			columns["p99_all_s"], columns["error_rate_all"] = true, true
			rows = append(rows, rw)
			fmt.Fprintf(stdout, "%s\n", res.Run.Verdict)
		}
	}
	cols := make([]string, 0, len(columns))
	for c := range columns {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	f, err := os.Create(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	w := csv.NewWriter(f)
	head := []string{}
	for _, ax := range axes {
		head = append(head, ax.key)
	}
	head = append(append(head, "repeat", "run", "verdict"), cols...)
	w.Write(head)
	for _, rw := range rows {
		rec := append(append([]string(nil), rw.combo...), strconv.Itoa(rw.repeat), rw.id, string(rw.verdict))
		for _, c := range cols {
			if v, ok := rw.values[c]; ok {
				rec = append(rec, strconv.FormatFloat(v, 'g', 6, 64))
			} else {
				rec = append(rec, "")
			}
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write sweep.csv: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write sweep.csv: %w", err)
	}
	fmt.Fprintf(stdout, "\n%s\n", filepath.Join(dir, "sweep.csv"))
	// One chart per figure: the first --set along x, one series per combination of the others.
	for _, col := range cols {
		var series []results.SweepSeries
		index := map[string]int{}
		for _, rw := range rows {
			v, ok := rw.values[col]
			if !ok {
				continue
			}
			name := "all runs"
			if len(axes) > 1 {
				name = describeCombo(axes[1:], rw.combo[1:])
			}
			si, seen := index[name]
			if !seen {
				si = len(series)
				index[name] = si
				series = append(series, results.SweepSeries{Name: name, Values: make([][]float64, len(axes[0].values))})
			}
			xi := indexOf(axes[0].values, rw.combo[0])
			series[si].Values[xi] = append(series[si].Values[xi], v)
		}
		unit := "seconds"
		if strings.HasPrefix(col, "error_rate") {
			unit = "fraction of requests"
		}
		svg, err := results.SweepChart(fmt.Sprintf("%s: %s", filepath.Base(fs.Arg(0)), col), axes[0].key, unit, axes[0].values, series)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, "sweep-"+strings.NewReplacer("[", "-", "]", "", ":", "-", "/", "-").Replace(col)+".svg")
		if err := os.WriteFile(path, svg, 0o644); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		fmt.Fprintln(stdout, path)
	}
	for _, c := range combos {
		fmt.Fprintf(stdout, "%s:\n", describeCombo(axes, c))
		passes := 0
		for _, rw := range rows {
			if equalStrings(rw.combo, c) && rw.verdict == results.Pass {
				passes++
			}
		}
		fmt.Fprintf(stdout, "  pass %d/%d\n", passes, *repeat)
		for _, col := range cols {
			var vs []float64
			for _, rw := range rows {
				if v, ok := rw.values[col]; ok && equalStrings(rw.combo, c) {
					vs = append(vs, v)
				}
			}
			if len(vs) == 0 {
				continue
			}
			sort.Float64s(vs)
			fmt.Fprintf(stdout, "  %-40s median %-10s worst %s\n", col, fmtValue(col, vs[len(vs)/2]), fmtValue(col, vs[len(vs)-1]))
		}
	}
	return nil
}

func describeCombo(axes setFlags, c []string) string {
	parts := make([]string, len(axes))
	for i, ax := range axes {
		parts[i] = ax.key + "=" + c[i]
	}
	return strings.Join(parts, " ")
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fmtValue prints a figure: rates as percentages, everything else as seconds.
func fmtValue(col string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if strings.HasPrefix(col, "error_rate") {
		return fmt.Sprintf("%.3g%%", 100*v)
	}
	return (time.Duration(v * float64(time.Second))).Round(time.Millisecond).String()
}
