package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"paylab/bench"
	"paylab/nodes/ledger"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "Usage: paylab bench ledger|failover [flags]\n\n  ledger    throughput and latency of a 3-node durable ledger through its HTTP API\n  failover  time from an abrupt leader kill to the next committed transfer")
		if len(args) == 0 {
			return fmt.Errorf("%w: bench needs a target: ledger or failover", errUsage)
		}
		return errHelp
	}
	switch args[0] {
	case "ledger":
		return benchLedger(ctx, args[1:], stdout, stderr)
	case "failover":
		return benchFailover(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown bench target %q (want ledger or failover)", errUsage, args[0])
}

// clusterFlags are the ledger settings both benchmarks share.
type clusterFlags struct {
	bench.ClusterConfig
	raftLog string
	network string
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	def := ledger.DefaultConfig()
	fs.IntVar(&c.Nodes, "nodes", 3, "ledger nodes in the cluster")
	fs.StringVar(&c.Dir, "dir", "", "directory for the nodes' files (default: a temp dir, removed afterwards)")
	fs.BoolVar(&c.StateSync, "state-sync", false, "fsync every state-machine commit (the raft log is always fsynced)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", def.HeartbeatTimeout, "raft heartbeat timeout")
	fs.DurationVar(&c.Lease, "lease", 0, "raft leader lease timeout, ≤ --heartbeat (default: equal to --heartbeat, as the lab sets it)")
	fs.DurationVar(&c.Election, "election", def.ElectionTimeout, "raft election timeout")
	fs.IntVar(&c.GroupInFlight, "group-inflight", def.GroupCommitInFlight, "group-commit raft entries in flight")
	fs.IntVar(&c.GroupMax, "group-max", def.GroupCommitMax, "most single transfers per group-commit entry")
	fs.DurationVar(&c.GroupInterval, "group-interval", def.GroupCommitInterval, "least time between the starts of two group-commit entries under load (0: none)")
	fs.StringVar(&c.raftLog, "raft-log", "", "append raft's own log to this file (at --raft-log-level)")
	fs.StringVar(&c.RaftLevel, "raft-log-level", "warn", "raft's log level for --raft-log: trace, debug, info, warn or error")
	fs.BoolVar(&c.NoElectionBackoff, "no-election-backoff", false, "keep raft's timeouts fixed (by default a node with no leader for two election timeouts doubles them, up to 8×)")
	fs.StringVar(&c.network, "network", "direct", "raft links: direct (TCP), proxied (every peer link through its own toxiproxy proxy, no toxics), or both (interleaved runs, ratio printed)")
}

// config checks the cluster flags and opens --raft-log; close closes it.
func (c *clusterFlags) config() (cfg bench.ClusterConfig, closeLog func(), err error) {
	if c.Nodes < 1 || c.Nodes > 9 {
		return cfg, nil, fmt.Errorf("%w: --nodes %d must be in 1..9", errUsage, c.Nodes)
	}
	cfg, closeLog = c.ClusterConfig, func() {}
	if c.raftLog != "" {
		f, err := os.OpenFile(c.raftLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return cfg, nil, fmt.Errorf("%w: --raft-log: %v", errUsage, err)
		}
		cfg.RaftLog, closeLog = f, func() { f.Close() }
	}
	return cfg, closeLog, nil
}

// ledgerFlags are the flags of `paylab bench ledger` beyond the cluster's.
type ledgerFlags struct {
	mode, ids, cpuProfile  string
	rate                   float64
	batch, conns, accounts int
	repeat                 int
	duration, warmup       time.Duration
}

func (f *ledgerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mode, "mode", "single", "single: one transfer per request (group commit); batch: --batch transfers per request")
	fs.Float64Var(&f.rate, "rate", 10000, "requests per second (open model; in batch mode, batches per second)")
	fs.IntVar(&f.batch, "batch", 4096, "transfers per request in batch mode (1..8192)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured duration of each run")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	fs.IntVar(&f.conns, "connections", 2048, "most concurrent requests (HTTP connections)")
	fs.IntVar(&f.accounts, "accounts", 0, "accounts to spread transfers over (default 1,000 in single mode, 10,000 in batch mode, as in FIELD-NOTES)")
	fs.StringVar(&f.ids, "ids", "ulid", "transfer ids: ulid (time-ordered) or random (64-bit hex)")
	fs.IntVar(&f.repeat, "repeat", 1, "runs, each on a fresh cluster; the median is printed last")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs to this file")
}

func benchLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab bench ledger", flag.ContinueOnError)
	var cf clusterFlags
	cf.register(fs)
	var f ledgerFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab bench ledger [flags]\n\nStarts an in-process durable ledger cluster on loopback and drives its HTTP API at an open-model rate;\nlatency counts from each request's intended send time.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := f.check(cf.Nodes); err != nil {
		return err
	}
	per := 1
	if f.mode == "batch" {
		per = f.batch
	}
	fmt.Fprintf(stdout, "bench ledger: %d nodes, mode %s (%d transfers/request), %g requests/s offered = %g transfers/s, %d accounts, %s ids, %s × %d, state fsync %v, group commit in flight %d\n",
		cf.Nodes, f.mode, per, f.rate, f.rate*float64(per), f.accounts, f.ids, f.duration, f.repeat, cf.StateSync, cf.GroupInFlight)
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	networks, err := networks(cf.network)
	if err != nil {
		return err
	}
	ccfg, closeLog, err := cf.config()
	if err != nil {
		return err
	}
	defer closeLog()
	return bench.Ledger(ctx, bench.LedgerConfig{Cluster: ccfg, Networks: networks, PerRequest: per, Rate: f.rate,
		Duration: f.duration, Warmup: f.warmup, Connections: f.conns, Accounts: f.accounts, RandomIDs: f.ids == "random", Repeat: f.repeat}, stdout)
}

// check refuses values out of range and fills in the default account count.
func (f *ledgerFlags) check(nodes int) error {
	switch {
	case f.mode != "single" && f.mode != "batch":
		return fmt.Errorf("%w: --mode %q must be single or batch", errUsage, f.mode)
	case f.rate <= 0 || f.rate > 1_000_000:
		return fmt.Errorf("%w: --rate %g must be in (0, 1e6]", errUsage, f.rate)
	case f.batch < 1 || f.batch > ledger.MaxBatch:
		return fmt.Errorf("%w: --batch %d must be in 1..%d", errUsage, f.batch, ledger.MaxBatch)
	case f.duration <= 0 || f.duration > time.Hour || f.warmup < 0 || f.warmup > 10*time.Minute:
		return fmt.Errorf("%w: --duration must be in (0, 1h] and --warmup in [0, 10m]", errUsage)
	case f.conns < 1 || f.conns > 50_000:
		return fmt.Errorf("%w: --connections %d must be in 1..50000", errUsage, f.conns)
	case fdsNeeded(f.conns, nodes) > fdLimit():
		return fmt.Errorf("%w: --connections %d needs about %d file descriptors (client and server ends of a connection to each of %d nodes, in this one process) but the process may open %d (ulimit -n)",
			errUsage, f.conns, fdsNeeded(f.conns, nodes), nodes, fdLimit())
	case f.accounts == 0 && f.mode == "batch":
		f.accounts = 10_000
	case f.accounts == 0:
		f.accounts = 1_000
	}
	switch {
	case f.accounts < 2 || f.accounts > 10_000_000:
		return fmt.Errorf("%w: --accounts %d must be in 2..10000000", errUsage, f.accounts)
	case f.repeat < 1 || f.repeat > 100:
		return fmt.Errorf("%w: --repeat %d must be in 1..100", errUsage, f.repeat)
	case f.ids != "ulid" && f.ids != "random":
		return fmt.Errorf("%w: --ids %q must be ulid or random", errUsage, f.ids)
	}
	return nil
}

// networks is the raft links --network asks for, in run order (false: direct, true: proxied).
func networks(network string) ([]bool, error) {
	switch network {
	case "direct":
		return []bool{false}, nil
	case "proxied":
		return []bool{true}, nil
	case "both":
		return []bool{false, true}, nil
	}
	return nil, fmt.Errorf("%w: --network %q must be direct, proxied or both", errUsage, network)
}

// fdsNeeded estimates the file descriptors a benchmark with conns connections per node needs when the
// client and the nodes share this process: both ends of every connection, plus a margin for raft, files and
// the generator.
func fdsNeeded(conns, nodes int) uint64 { return uint64(2*conns*nodes + 1000) }

// fdLimit is this process's open-file limit (Go raises the soft limit to the hard one at start).
func fdLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1 << 20
	}
	return r.Cur
}
