package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"paylab/results"
)

// ratioLimits is --max-ratio FIGURE=R, repeatable.
type ratioLimits map[string]float64

func (r ratioLimits) String() string { return fmt.Sprint(map[string]float64(r)) }

func (r ratioLimits) Set(s string) error {
	name, v, ok := strings.Cut(s, "=")
	f, err := strconv.ParseFloat(v, 64)
	if !ok || name == "" || err != nil || !(f > 0) {
		return fmt.Errorf("%q: want FIGURE=RATIO, e.g. p99=1.2", s)
	}
	r[name] = f
	return nil
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab compare", flag.ContinueOnError)
	limits := ratioLimits{}
	fs.Var(limits, "max-ratio", "FIGURE=RATIO: fail (exit 1) when B's figure exceeds A's by more than RATIO (repeatable; figures as listed)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab compare [--max-ratio FIGURE=RATIO]... RUN_A RUN_B\n\nLines up two run directories' figures (latency percentiles, error rate, CPU per operation, peak RSS,\nevery assertion's observed value) with B/A ratios, and the assertions whose verdict changed.\nExit code: 0, 1 when a --max-ratio is exceeded, 2 bad input.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("%w: compare takes two run directories", errUsage)
	}
	var runs [2]*results.Run
	for i, dir := range fs.Args() {
		r, err := results.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		runs[i] = r
	}
	rows, changed := results.Compare(runs[0], runs[1])
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tA\tB\tB/A\t")
	var broken []string
	for _, r := range rows {
		ratio := "-"
		if !math.IsNaN(r.Ratio) {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		mark := ""
		if lim, ok := limits[r.Figure]; ok && !math.IsNaN(r.Ratio) && r.Ratio > lim {
			mark = fmt.Sprintf("over %.2f", lim)
			broken = append(broken, fmt.Sprintf("%s %.2f× (limit %.2f×)", r.Figure, r.Ratio, lim))
		}
		fmt.Fprintf(tw, "%s\t%.3g %s\t%.3g %s\t%s\t%s\n", r.Figure, r.A, r.Unit, r.B, r.Unit, ratio, mark)
	}
	tw.Flush()
	for name := range limits {
		if !hasFigure(rows, name) {
			return fmt.Errorf("%w: --max-ratio %s: no such figure in both runs", errUsage, name)
		}
	}
	for _, c := range changed {
		fmt.Fprintln(stdout, "verdict changed:", c)
	}
	if len(broken) > 0 {
		return fmt.Errorf("%w: regression: %s", errFailed, strings.Join(broken, "; "))
	}
	return nil
}

func hasFigure(rows []results.CompareRow, name string) bool {
	for _, r := range rows {
		if r.Figure == name {
			return true
		}
	}
	return false
}
