package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"paylab/lab"
	"paylab/results"
)

// setFlags collects the --set flags of a sweep.
type setFlags []lab.SweepAxis

func (f *setFlags) String() string { return fmt.Sprint(*f) }

func (f *setFlags) Set(v string) error {
	ax, err := lab.ParseSweepAxis(v)
	if err != nil {
		return err
	}
	*f = append(*f, ax)
	return nil
}

func runSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab sweep", flag.ContinueOnError)
	var axes setFlags
	fs.Var(&axes, "set", "KEY=V1,V2,… a field to vary (repeatable; every combination runs); keys: "+strings.Join(lab.SweepKeys(), ", "))
	repeat := fs.Int("repeat", 3, "runs of each combination (the seed grows by one per repeat)")
	out := fs.String("out", "runs", "directory for the sweep's directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab sweep <scenario> --set KEY=V1,V2 [--set …] [--repeat N]\n\nRuns a scenario for every combination of the values given, N times each, and writes sweep.csv (one row per\nrun: the values, the verdict, whether the lab was saturated, and every assertion's observed figure) beside\nthe runs, then prints the median and worst of each figure per combination over the runs whose lab was not\nsaturated (a saturated run measured the lab, not the system).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: sweep takes one scenario", errUsage)
	}
	sw := &lab.Sweep{File: fs.Arg(0), Axes: axes, Repeat: *repeat,
		OnRun: func(n, total int, combo string, repeat int) {
			fmt.Fprintf(stdout, "[%d/%d] %s repeat %d … ", n, total, combo, repeat)
		},
		OnDone: func(row results.SweepRow) {
			sat := ""
			if row.Saturated {
				sat = " (lab saturated: left out of the medians)"
			}
			fmt.Fprintf(stdout, "%s%s\n", row.Verdict, sat)
		},
	}
	if err := sw.Check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	dir, rows, err := sw.Run(ctx, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\n", filepath.Join(dir, "sweep.csv"))
	charts, err := sw.WriteCharts(dir, rows)
	for _, p := range charts {
		fmt.Fprintln(stdout, p)
	}
	if err != nil {
		return err
	}
	printSweepSummary(stdout, sw, rows)
	return nil
}

// printSweepSummary prints, per combination, how many runs passed and each figure's median and worst over
// the runs whose lab was not saturated.
func printSweepSummary(w io.Writer, sw *lab.Sweep, rows []results.SweepRow) {
	combos, _ := sw.Combos()
	cols := results.SweepColumns(rows)
	for _, c := range combos {
		var mine []results.SweepRow
		passes := 0
		for _, rw := range rows {
			if slices.Equal(rw.Combo, c) {
				mine = append(mine, rw)
				if rw.Verdict == results.Pass {
					passes++
				}
			}
		}
		fmt.Fprintf(w, "%s:\n  pass %d/%d\n", sw.Describe(c), passes, sw.Repeat)
		for _, st := range results.SweepStats(mine, cols) {
			left := ""
			if st.Excluded > 0 {
				left = fmt.Sprintf("  (%d saturated run(s) left out)", st.Excluded)
			}
			fmt.Fprintf(w, "  %-40s median %-10s worst %s%s\n", st.Column, results.SweepValue(st.Column, st.Median), results.SweepValue(st.Column, st.Worst), left)
		}
	}
}
