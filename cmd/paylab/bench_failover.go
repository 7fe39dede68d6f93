package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"paylab/bench"
	"paylab/lab/load"
)

func benchFailover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab bench failover", flag.ContinueOnError)
	var cf clusterFlags
	cf.register(fs)
	var fc bench.FailoverConfig
	fs.IntVar(&fc.Kills, "kills", 20, "leader kills")
	fs.Float64Var(&fc.Rate, "rate", 2000, "background transfers per second")
	fs.DurationVar(&fc.Settle, "settle", 500*time.Millisecond, "load before each kill, after the killed node has rejoined")
	fs.DurationVar(&fc.Stall, "stall", 10*time.Second, "a kill with no commit within this is counted as a stall")
	fs.DurationVar(&fc.GiveUp, "give-up", 30*time.Second, "stop waiting for a commit after a kill, restart the killed node and go on")
	fs.DurationVar(&fc.Target, "target", 500*time.Millisecond, "the p99 failover time the run must stay within")
	fs.DurationVar(&fc.ClientBackoff, "client-backoff", 10*time.Millisecond, "the client's first pause before retrying when no leader is known (doubles up to 8×)")
	fs.DurationVar(&fc.Timeout, "timeout", 2*time.Second, "the longest one background transfer may take, retries included")
	fs.IntVar(&fc.MaxInFlight, "max-inflight", 0, "the most background transfers in flight (default: one second of --rate); beyond it sends are late, and the report says so")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab bench failover [flags]\n\nKills the leader of an in-process durable ledger cluster abruptly, under load, --kills times, and prints the\ndistribution of the time from each kill to the next committed transfer, the kills that stalled (no commit\nwithin --stall), the longest time with no commit at all, and the raft terms each failover used. The killed\nnode restarts and rejoins before the next kill.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := checkFailover(&fc, cf.Nodes); err != nil {
		return err
	}
	ccfg, closeLog, err := cf.config()
	if err != nil {
		return err
	}
	defer closeLog()
	fc.Cluster, fc.Proxied = ccfg, cf.network == "proxied"
	return bench.Failover(ctx, fc, stdout)
}

// checkFailover refuses values out of range and fills in the default --max-inflight.
func checkFailover(fc *bench.FailoverConfig, nodes int) error {
	if fc.Kills < 1 || fc.Kills > 1000 || fc.Rate <= 0 || fc.Rate > 100_000 || fc.Settle < 0 || fc.Settle > time.Minute ||
		fc.Stall <= 0 || fc.GiveUp < fc.Stall || fc.GiveUp > 10*time.Minute || fc.ClientBackoff < 0 || fc.ClientBackoff > time.Second ||
		fc.Timeout <= 0 || fc.Timeout > time.Minute || fc.MaxInFlight < 0 || fc.MaxInFlight > load.MaxWorkersLimit || fc.Target <= 0 {
		return fmt.Errorf("%w: --kills must be in 1..1000, --rate in (0, 100000], --settle in [0, 1m], --stall > 0, --give-up in [--stall, 10m], --client-backoff in [0, 1s], --timeout in (0, 1m], --max-inflight in 0..%d", errUsage, load.MaxWorkersLimit)
	}
	if fc.MaxInFlight == 0 {
		fc.MaxInFlight = max(64, int(fc.Rate))
	}
	if nodes < 3 {
		return fmt.Errorf("%w: failover needs --nodes ≥ 3", errUsage)
	}
	return nil
}
