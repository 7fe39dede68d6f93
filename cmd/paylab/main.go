// Command paylab runs the payment-system chaos lab: scenarios, benchmarks and single nodes.
//
// Exit codes: 0 pass, 1 an assertion failed (the verdict is not what the scenario expects), 2 bad input
// or setup failure (usage errors included), 3 unknown (a checker could not decide, nothing failed).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"paylab/suggest"
)

// Exit codes.
const (
	exitFailed  = 1 // an assertion failed
	exitUsage   = 2 // bad input or a setup failure
	exitUnknown = 3 // the run could not decide
)

// errUsage marks an error caused by how the command was called; main prints it and exits 2.
var errUsage = errors.New("usage")

// command is one paylab subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"bench":      {"measure the ledger: throughput (bench ledger) and leader failover (bench failover)", runBench},
		"run":        {"run a scenario: build the system, load it, inject faults, check, write runs/<id>/", runRun},
		"validate":   {"check scenario files without running them (errors as file:line:col)", runValidate},
		"compare":    {"line up two runs' figures with ratios and verdict changes; exit 1 on a --max-ratio regression", runCompare},
		"suite":      {"run many scenarios (all shipped ones by default) → one junit.xml, index.html and exit code", runSuite},
		"list":       {"list the shipped scenarios", runList},
		"lab":        {"lab up: start a topology and print every address to poke it by hand", runLab},
		"faults":     {"list the fault catalogue: targets and parameters", runFaults},
		"report":     {"rebuild report.html and junit.xml of finished run directories", runReport},
		"sweep":      {"run a scenario over combinations of settings, with repeats → sweep.csv and medians", runSweep},
		"assertions": {"list the assertions a scenario may check, with their parameters", runAssertions},
		"load":       {"drive one endpoint (any URL, or a ledger with a payment workload) and print a k6-like summary", runLoad},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "paylab — chaos-testing and simulation lab for multi-region payment systems")
	fmt.Fprintln(w, "\nUsage: paylab <command> [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'paylab <command> --help' for the flags of one command.")
}

// Defaults of the collector for the lab's process, unless the environment chose them (GOGC, GOMEMLIMIT).
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 512 << 20 // bytes
)

// tuneGC sets the collector's target and soft memory limit for a lab run; getenv reads the environment.
func tuneGC(getenv func(string) string) {
	// The lab runs several replicas, their clients and the load generator in one process on few cores; the
	// default GC target (100) spends a fifth of the CPU in GC at 10k transfers/s. Memory is not the limit here,
	// so trade it for CPU unless the user chose a GOGC.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	// …but bound what that headroom may grow to: past 512 MiB the collector runs as often as it must. A lab's
	// live heap is 20–150 MB (gctrace of zone-failover); GOGC=400 alone lets the heap reach five times the
	// live heap of the last collection — up to 1 GiB of garbage after a collection in the checks — and that,
	// not data the lab keeps, was the 700–900 MB peak RSS (docs/PERFORMANCE.md, "CPU per payment").
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func main() {
	tuneGC(os.Getenv)
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		names := make([]string, 0, len(commands()))
		for n := range commands() {
			names = append(names, n)
		}
		fmt.Fprintf(stderr, "paylab: unknown command %q%s\n\n", args[0], suggest.DidYouMean(args[0], names))
		usage(stderr)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exitCode(args[0], cmd.run(ctx, args[1:], stdout, stderr), stderr)
}

// exitCode prints err (if any) for the named command and returns the process's exit code.
func exitCode(name string, err error, stderr io.Writer) int {
	args := []string{name}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, new(printedError)):
		return exitUsage
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "paylab %s: %s\n", args[0], strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	case errors.Is(err, errFailed):
		fmt.Fprintf(stderr, "paylab %s: %s\n", args[0], strings.TrimPrefix(err.Error(), errFailed.Error()+": "))
		return exitFailed
	case errors.Is(err, errUnknown):
		fmt.Fprintf(stderr, "paylab %s: %s\n", args[0], strings.TrimPrefix(err.Error(), errUnknown.Error()+": "))
		return exitUnknown
	default:
		fmt.Fprintf(stderr, "paylab %s: %v\n", args[0], err)
		return exitUsage
	}
}

// errHelp is returned when the user asked for --help; the flags were printed.
var errHelp = errors.New("help requested")

// errFailed marks a run whose assertions failed (exit code 1).
var errFailed = errors.New("failed")

// errUnknown marks a run that could not decide: an assertion was unknown and none failed (exit code 3).
var errUnknown = errors.New("unknown")
