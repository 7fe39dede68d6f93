package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"paylab/lab"
	"paylab/results"
	"paylab/scenarios"
)

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab suite", flag.ContinueOnError)
	out := fs.String("out", "", "the suite's directory (default runs/suite-<time>)")
	junit := fs.String("junit", "", "also write the combined junit.xml to this path")
	noRerun := fs.Bool("no-rerun", false, "never re-run a scenario whose verdict is unknown because the lab was saturated")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab suite [flags] [scenario.yaml | library name | glob]...\n\nRuns scenarios one after another, each in its own lab (every shipped scenario when none is named),\nhonouring each one's expect, and writes into the suite's directory: runs/ (a run directory per\nscenario), junit.xml (a test suite per scenario, a test case per assertion) and index.html. A\nscenario whose verdict is unknown because the lab was saturated is re-run once (said on its line);\na failure never is.\nExit code: 0 every scenario as expected, 1 one failed, 2 bad input or a setup failure, 3 unknown.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	names, err := suiteNames(fs.Args())
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", "suite-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	fmt.Fprintf(stdout, "paylab suite: %d scenarios → %s\n", len(names), dir)
	entries, runErr := lab.RunSuite(ctx, lab.SuiteConfig{Names: names, Dir: dir, Out: stdout, NoRerun: *noRerun, ToxiproxyURL: os.Getenv("TOXIPROXY_URL"),
		Annotate: os.Getenv("GITHUB_ACTIONS") == "true"})
	if err := writeSuite(dir, *junit, entries); err != nil {
		return err
	}
	verdict := results.SuiteVerdict(entries)
	fmt.Fprintf(stdout, "suite verdict: %s\n  index: %s\n  junit: %s\n", verdict, filepath.Join(dir, "index.html"), filepath.Join(dir, "junit.xml"))
	if runErr != nil {
		return runErr
	}
	switch verdict {
	case string(results.Fail):
		return fmt.Errorf("%w: suite verdict fail (%s)", errFailed, dir)
	case "error":
		return fmt.Errorf("%w: a scenario could not be set up (%s)", errUsage, dir)
	case string(results.Undecided):
		return fmt.Errorf("%w: suite verdict unknown (%s)", errUnknown, dir)
	}
	return nil
}

// suiteNames expands the arguments: library names and files as given, globs to the files they match; no
// argument is every shipped scenario.
func suiteNames(args []string) ([]string, error) {
	if len(args) == 0 {
		return scenarios.Library(), nil
	}
	var names []string
	for _, a := range args {
		matches, err := filepath.Glob(a)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: pattern %q: %v", errUsage, a, err)
		case len(matches) > 0:
			names = append(names, matches...)
		default:
			names = append(names, a) // a library name, or a file Load will report
		}
	}
	return names, nil
}

// writeSuite writes the suite's junit.xml (and a copy where --junit says) and index.html.
func writeSuite(dir, junitCopy string, entries []results.SuiteEntry) error {
	write := func(path string, f func(io.Writer, []results.SuiteEntry) error) error {
		w, err := os.Create(path)
		if err != nil {
			return err
		}
		return errors.Join(f(w, entries), w.Close())
	}
	paths := []string{filepath.Join(dir, "junit.xml")}
	if junitCopy != "" {
		paths = append(paths, junitCopy)
	}
	for _, p := range paths {
		if err := write(p, results.WriteSuiteJUnit); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := write(filepath.Join(dir, "index.html"), results.WriteSuiteIndex); err != nil {
		return fmt.Errorf("write index.html: %w", err)
	}
	return nil
}
