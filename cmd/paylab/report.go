package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"paylab/results"
)

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab report", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab report <run directory>...\n\nRebuilds report.html and junit.xml of finished runs from their summary.json and timeseries.csv\n(after an upgrade of paylab, or to regenerate a report that was deleted), and prints each verdict.")
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: name at least one run directory", errUsage)
	}
	for _, dir := range fs.Args() {
		run, err := results.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		for _, f := range []struct {
			name  string
			write func(io.Writer, *results.Run) error
		}{{results.ReportFile, results.WriteReport}, {results.JUnitFile, results.WriteJUnit}} {
			path := filepath.Join(dir, f.name)
			out, err := os.Create(path)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			werr := f.write(out, run)
			if cerr := out.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return fmt.Errorf("report %s: %w", path, werr)
			}
		}
		fmt.Fprintf(stdout, "%s: %s, %d assertions → %s\n", dir, run.Verdict, len(run.Assertions), filepath.Join(dir, results.ReportFile))
	}
	return nil
}
