package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"paylab/lab"
	"paylab/results"
	"paylab/scenarios"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab run", flag.ContinueOnError)
	runsDir := fs.String("out", "runs", "directory for run directories")
	seed := fs.Uint64("seed", 0, "override the scenario's seed")
	duration := fs.Duration("duration", 0, "override the scenario's duration (timeline steps after it are refused)")
	keep := fs.Bool("keep-data", false, "keep the ledger nodes' files in the run directory")
	profile := fs.Bool("profile", false, "capture goroutine dumps and CPU profiles from the nodes' pprof endpoints in every fault window (runs/<id>/profiles/, linked from report.html)")
	raftLog := fs.String("raft-log", "", "append raft's own warnings to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (every node shares this process) to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile (allocations of the whole run) to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab run [flags] <scenario.yaml | library name>\n\nBuilds the scenario's system on this machine, drives its load, injects its faults, checks its assertions\nand writes runs/<time>-<name>/ (summary.json, report.html, junit.xml, …). The last line is the command\nthat replays the run (same seed) and the paylab commit.\nExit code: 0 pass (the verdict the scenario expects), 1 an assertion failed, 2 bad input or setup\nfailure, 3 unknown (a checker could not decide and none failed).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: run takes one scenario", errUsage)
	}
	// The one Prepare of the run is Load's: the seed and duration a flag overrides are not part of the plan.
	s, _, plan, err := lab.Load(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	if seedSet {
		s.Seed = *seed
	}
	if *duration != 0 {
		s.Duration = *duration
		if errs := s.Validate(); len(errs) > 0 {
			return fmt.Errorf("%w: with --duration %v: %v", errUsage, *duration, errs[0])
		}
	}
	replay := lab.ReplayCommand(fs.Arg(0), s.Seed, *duration)
	opts := lab.RunOptions{RunsDir: *runsDir, Out: stdout, KeepNodeData: *keep, ToxiproxyURL: os.Getenv("TOXIPROXY_URL"), Live: isTerminal(stdout), Profile: *profile, Replay: replay}
	if *raftLog != "" {
		f, err := os.OpenFile(*raftLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("%w: --raft-log: %v", errUsage, err)
		}
		defer f.Close()
		opts.RaftLog = f
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	res, err := plan.Run(ctx, opts)
	if *memProfile != "" {
		if f, ferr := os.Create(*memProfile); ferr == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	// Every run ends with its replay line, also one that failed to set up.
	if err != nil {
		fmt.Fprintln(stdout, (&results.Run{Replay: replay, Commit: lab.Commit()}).ReplayLine())
		return err
	}
	fmt.Fprintln(stdout, res.Run.ReplayLine())
	return verdictErr(res.Run.Verdict, res.Dir)
}

// verdictErr maps a run's verdict to the error that gives its exit code: nil (0) for pass, errFailed (1)
// for fail, errUnknown (3) for unknown.
func verdictErr(v results.Verdict, dir string) error {
	switch v {
	case results.Pass:
		return nil
	case results.Undecided:
		return fmt.Errorf("%w: verdict %s: a checker could not decide and none failed (%s)", errUnknown, v, dir)
	}
	return fmt.Errorf("%w: verdict %s (%s)", errFailed, v, dir)
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab validate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab validate <scenario.yaml | library name>...\n\nChecks scenario files without running them; problems are printed as file:line:col: message.")
	}
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: name at least one scenario", errUsage)
	}
	var bad int
	for _, name := range fs.Args() {
		s, _, _, err := lab.Load(name)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%s, %d faults, %d assertions, expect %s)\n", name, s.Duration, len(s.Timeline), len(s.Assertions), s.Expect.Verdict)
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d scenarios are invalid", errUsage, bad, fs.NArg())
	}
	return nil
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab list", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	for _, name := range scenarios.Library() {
		s, _, err := scenarios.LoadNamed(name)
		if err != nil {
			fmt.Fprintf(stdout, "%-24s (invalid: %v)\n", name, err)
			continue
		}
		fmt.Fprintf(stdout, "%-24s %s\n", name, s.Description)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal), for the live progress line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
