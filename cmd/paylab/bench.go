package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"paylab/lab/load"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
	"paylab/outcome"
	"paylab/regions"
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
	nodes         int
	dir           string
	stateSync     bool
	heartbeat     time.Duration
	lease         time.Duration
	election      time.Duration
	inFlight      int
	groupMax      int
	groupInterval time.Duration
	raftLog       string
	raftLevel     string
	network       string
	noBackoff     bool
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&c.nodes, "nodes", 3, "ledger nodes in the cluster")
	fs.StringVar(&c.dir, "dir", "", "directory for the nodes' files (default: a temp dir, removed afterwards)")
	fs.BoolVar(&c.stateSync, "state-sync", false, "fsync every state-machine commit (the raft log is always fsynced)")
	def := ledger.DefaultConfig()
	fs.DurationVar(&c.heartbeat, "heartbeat", def.HeartbeatTimeout, "raft heartbeat timeout")
	fs.DurationVar(&c.lease, "lease", 0, "raft leader lease timeout, ≤ --heartbeat (default: equal to --heartbeat, as the lab sets it)")
	fs.DurationVar(&c.election, "election", def.ElectionTimeout, "raft election timeout")
	fs.IntVar(&c.inFlight, "group-inflight", ledger.DefaultConfig().GroupCommitInFlight, "group-commit raft entries in flight")
	fs.IntVar(&c.groupMax, "group-max", ledger.DefaultConfig().GroupCommitMax, "most single transfers per group-commit entry")
	fs.DurationVar(&c.groupInterval, "group-interval", ledger.DefaultConfig().GroupCommitInterval, "least time between the starts of two group-commit entries under load (0: none)")
	fs.StringVar(&c.raftLog, "raft-log", "", "append raft's own log to this file (at --raft-log-level)")
	fs.StringVar(&c.raftLevel, "raft-log-level", "warn", "raft's log level for --raft-log: trace, debug, info, warn or error")
	fs.BoolVar(&c.noBackoff, "no-election-backoff", false, "keep raft's timeouts fixed (by default a node with no leader for two election timeouts doubles them, up to 8×)")
	fs.StringVar(&c.network, "network", "direct", "raft links: direct (TCP), proxied (every peer link through its own toxiproxy proxy, no toxics), or both (interleaved runs, ratio printed)")
}

func (c *clusterFlags) start(ctx context.Context, proxied bool) (*ledgertest.Cluster, func(), error) {
	if c.nodes < 1 || c.nodes > 9 {
		return nil, nil, fmt.Errorf("%w: --nodes %d must be in 1..9", errUsage, c.nodes)
	}
	var logOut io.Writer
	if c.raftLog != "" {
		f, err := os.OpenFile(c.raftLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --raft-log: %v", errUsage, err)
		}
		logOut = f // closed at exit
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var nw *regions.Network
	var layers []*regions.StreamLayer
	if proxied {
		// One region, one zone per node, no latency: every raft link crosses its own proxy and nothing else.
		topo := regions.DefaultTopology()
		topo.Regions = []regions.Region{{Name: "bench"}}
		topo.Ledger.Nodes = nil
		for i := 0; i < c.nodes; i++ {
			z := string(rune('a' + i))
			topo.Regions[0].Zones = append(topo.Regions[0].Zones, z)
			topo.Ledger.Nodes = append(topo.Ledger.Nodes, regions.Placement{Region: "bench", Zone: z})
		}
		topo.Latency = regions.Latency{}
		var err error
		if nw, err = regions.NewNetwork(sctx, topo, regions.NetworkOptions{ToxiproxyURL: os.Getenv("TOXIPROXY_URL")}); err != nil {
			return nil, nil, fmt.Errorf("start network: %w", err)
		}
		for _, n := range topo.LedgerNodes() {
			layer, err := nw.ListenRaft(n.ID)
			if err != nil {
				nw.Close()
				return nil, nil, err
			}
			layers = append(layers, layer)
		}
		if err := nw.Connect(sctx); err != nil {
			nw.Close()
			return nil, nil, err
		}
	}
	cl, err := ledgertest.Start(sctx, ledgertest.Options{Nodes: c.nodes, Dir: c.dir, Configure: func(i int, cfg *ledger.Config) {
		if c.dir != "" {
			cfg.Dir = fmt.Sprintf("%s/run-%d/n%d", c.dir, time.Now().UnixNano(), i+1)
		}
		if proxied {
			cfg.StreamLayer = layers[i]
		}
		cfg.StateSync = c.stateSync
		cfg.LogOutput = logOut
		cfg.LogLevel = c.raftLevel
		cfg.HeartbeatTimeout = c.heartbeat
		cfg.LeaderLeaseTimeout = c.heartbeat
		if c.lease > 0 {
			cfg.LeaderLeaseTimeout = c.lease
		}
		cfg.ElectionTimeout = c.election
		cfg.NoElectionBackoff = c.noBackoff
		cfg.GroupCommitInFlight = c.inFlight
		cfg.GroupCommitMax = c.groupMax
		cfg.GroupCommitInterval = c.groupInterval
	}})
	if err != nil {
		if nw != nil {
			nw.Close()
		}
		return nil, nil, err
	}
	return cl, func() {
		cl.Close()
		if nw != nil {
			nw.Close()
		}
	}, nil
}

func seed(ctx context.Context, cl *client.Client, accounts int, balance int64) error {
	as := make([]ledger.Account, accounts)
	for i := range as {
		as[i] = ledger.Account{ID: fmt.Sprintf("acc-%d", i), Balance: balance}
	}
	return cl.CreateAccounts(ctx, as)
}

type idSource func() string

func newIDSource(kind string, cl *client.Client) (idSource, error) {
	switch kind {
	case "ulid":
		return cl.NewID, nil
	case "random":
		return func() string {
			var b [8]byte
			_, _ = crand.Read(b[:])
			return hex.EncodeToString(b[:])
		}, nil
	}
	return nil, fmt.Errorf("%w: --ids %q must be ulid or random", errUsage, kind)
}

func benchLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab bench ledger", flag.ContinueOnError)
	var cf clusterFlags
	cf.register(fs)
	mode := fs.String("mode", "single", "single: one transfer per request (group commit); batch: --batch transfers per request")
	rate := fs.Float64("rate", 10000, "requests per second (open model; in batch mode, batches per second)")
	batch := fs.Int("batch", 4096, "transfers per request in batch mode (1..8192)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration of each run")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load before each run")
	conns := fs.Int("connections", 2048, "most concurrent requests (HTTP connections)")
	accounts := fs.Int("accounts", 0, "accounts to spread transfers over (default 1,000 in single mode, 10,000 in batch mode, as in FIELD-NOTES)")
	ids := fs.String("ids", "ulid", "transfer ids: ulid (time-ordered) or random (64-bit hex)")
	repeat := fs.Int("repeat", 1, "runs, each on a fresh cluster; the median is printed last")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured runs to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab bench ledger [flags]\n\nStarts an in-process durable ledger cluster on loopback and drives its HTTP API at an open-model rate;\nlatency counts from each request's intended send time.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case *mode != "single" && *mode != "batch":
		return fmt.Errorf("%w: --mode %q must be single or batch", errUsage, *mode)
	case *rate <= 0 || *rate > 1_000_000:
		return fmt.Errorf("%w: --rate %g must be in (0, 1e6]", errUsage, *rate)
	case *batch < 1 || *batch > ledger.MaxBatch:
		return fmt.Errorf("%w: --batch %d must be in 1..%d", errUsage, *batch, ledger.MaxBatch)
	case *duration <= 0 || *duration > time.Hour || *warmup < 0 || *warmup > 10*time.Minute:
		return fmt.Errorf("%w: --duration must be in (0, 1h] and --warmup in [0, 10m]", errUsage)
	case *conns < 1 || *conns > 50_000:
		return fmt.Errorf("%w: --connections %d must be in 1..50000", errUsage, *conns)
	case fdsNeeded(*conns, cf.nodes) > fdLimit():
		return fmt.Errorf("%w: --connections %d needs about %d file descriptors (client and server ends of a connection to each of %d nodes, in this one process) but the process may open %d (ulimit -n)",
			errUsage, *conns, fdsNeeded(*conns, cf.nodes), cf.nodes, fdLimit())
	case *accounts == 0 && *mode == "batch":
		*accounts = 10_000
	case *accounts == 0:
		*accounts = 1_000
	}
	switch {
	case *accounts < 2 || *accounts > 10_000_000:
		return fmt.Errorf("%w: --accounts %d must be in 2..10000000", errUsage, *accounts)
	case *repeat < 1 || *repeat > 100:
		return fmt.Errorf("%w: --repeat %d must be in 1..100", errUsage, *repeat)
	case *ids != "ulid" && *ids != "random":
		return fmt.Errorf("%w: --ids %q must be ulid or random", errUsage, *ids)
	}
	per := 1
	if *mode == "batch" {
		per = *batch
	}
	fmt.Fprintf(stdout, "bench ledger: %d nodes, mode %s (%d transfers/request), %g requests/s offered = %g transfers/s, %d accounts, %s ids, %s × %d, state fsync %v, group commit in flight %d\n",
		cf.nodes, *mode, per, *rate, *rate*float64(per), *accounts, *ids, *duration, *repeat, cf.stateSync, cf.inFlight)

	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	var modes []bool // proxied?
	switch cf.network {
	case "direct":
		modes = []bool{false}
	case "proxied":
		modes = []bool{true}
	case "both":
		modes = []bool{false, true}
	default:
		return fmt.Errorf("%w: --network %q must be direct, proxied or both", errUsage, cf.network)
	}
	runs := map[bool][]benchRun{}
	for i := 0; i < *repeat; i++ {
		for _, proxied := range modes { // interleaved: direct, proxied, direct, proxied, …
			r, err := benchLedgerOnce(ctx, cf, proxied, *mode, *rate, per, *duration, *warmup, *conns, *accounts, *ids)
			if err != nil {
				return err
			}
			r.print(stdout, fmt.Sprintf("run %d/%d %s", i+1, *repeat, netName(proxied)))
			runs[proxied] = append(runs[proxied], r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	meds := map[bool]benchRun{}
	for _, proxied := range modes {
		meds[proxied] = median(runs[proxied])
		if len(runs[proxied]) > 1 {
			meds[proxied].print(stdout, fmt.Sprintf("median of %d %s", len(runs[proxied]), netName(proxied)))
		}
	}
	if len(modes) == 2 && meds[false].transfersPerSec > 0 {
		fmt.Fprintf(stdout, "proxied/direct throughput ratio: %.2f (medians; p99 %s vs %s)\n",
			meds[true].transfersPerSec/meds[false].transfersPerSec, ms(meds[true].p99), ms(meds[false].p99))
	}
	return nil
}

// benchRun is the figures of one benchmark run.
type benchRun struct {
	transfersPerSec, requestsPerSec float64
	p50, p99, p999, max             time.Duration
	ok, rejected, failed, unknown   uint64
	late, missed                    uint64
	limited                         string
	batchMean                       float64
}

func (b benchRun) print(w io.Writer, label string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s:\t%.0f transfers/s\t(%.0f req/s)\tp50 %s\tp99 %s\tp99.9 %s\tmax %s\tok %d\trejected %d\tfailed %d\tunknown %d\tlate %d\tmissed %d",
		label, b.transfersPerSec, b.requestsPerSec, ms(b.p50), ms(b.p99), ms(b.p999), ms(b.max), b.ok, b.rejected, b.failed, b.unknown, b.late, b.missed)
	if b.batchMean > 0 {
		fmt.Fprintf(tw, "\tgroup commit %.0f/entry", b.batchMean)
	}
	fmt.Fprintln(tw)
	tw.Flush()
	if b.limited != "" {
		fmt.Fprintf(w, "  note: %s\n", b.limited)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// median takes the median of each figure independently across runs.
func median(runs []benchRun) benchRun {
	pick := func(f func(benchRun) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	d := func(f func(benchRun) time.Duration) time.Duration {
		return time.Duration(pick(func(r benchRun) float64 { return float64(f(r)) }))
	}
	u := func(f func(benchRun) uint64) uint64 {
		return uint64(pick(func(r benchRun) float64 { return float64(f(r)) }))
	}
	return benchRun{
		transfersPerSec: pick(func(r benchRun) float64 { return r.transfersPerSec }),
		requestsPerSec:  pick(func(r benchRun) float64 { return r.requestsPerSec }),
		p50:             d(func(r benchRun) time.Duration { return r.p50 }),
		p99:             d(func(r benchRun) time.Duration { return r.p99 }),
		p999:            d(func(r benchRun) time.Duration { return r.p999 }),
		max:             d(func(r benchRun) time.Duration { return r.max }),
		ok:              u(func(r benchRun) uint64 { return r.ok }),
		rejected:        u(func(r benchRun) uint64 { return r.rejected }),
		failed:          u(func(r benchRun) uint64 { return r.failed }),
		unknown:         u(func(r benchRun) uint64 { return r.unknown }),
		late:            u(func(r benchRun) uint64 { return r.late }),
		missed:          u(func(r benchRun) uint64 { return r.missed }),
		batchMean:       pick(func(r benchRun) float64 { return r.batchMean }),
	}
}

func netName(proxied bool) string {
	if proxied {
		return "proxied"
	}
	return "direct"
}

func benchLedgerOnce(ctx context.Context, cf clusterFlags, proxied bool, mode string, rate float64, per int, duration, warmup time.Duration, conns, accounts int, idKind string) (benchRun, error) {
	c, stop, err := cf.start(ctx, proxied)
	if err != nil {
		return benchRun{}, fmt.Errorf("start cluster: %w", err)
	}
	defer stop()
	ccfg := client.DefaultConfig(c.URLs())
	ccfg.MaxConnsPerNode = conns
	cl, err := client.New(ccfg)
	if err != nil {
		return benchRun{}, err
	}
	defer cl.Close()
	if err := seed(ctx, cl, accounts, 1_000_000_000); err != nil {
		return benchRun{}, fmt.Errorf("seed accounts: %w", err)
	}
	newID, err := newIDSource(idKind, cl)
	if err != nil {
		return benchRun{}, err
	}
	rngs := make([]*rand.Rand, load.MaxWorkersLimit)
	pick := func(worker int) (string, string) {
		r := rngs[worker]
		if r == nil {
			r = rand.New(rand.NewPCG(uint64(worker), uint64(time.Now().UnixNano())))
			rngs[worker] = r
		}
		a := r.IntN(accounts)
		b := (a + 1 + r.IntN(accounts-1)) % accounts
		return fmt.Sprintf("acc-%d", a), fmt.Sprintf("acc-%d", b)
	}
	var op load.OpFunc
	if per == 1 {
		op = func(ctx context.Context, seq uint64, worker int) load.Outcome {
			from, to := pick(worker)
			r := cl.Transfer(ctx, ledger.Transfer{ID: newID(), From: from, To: to, Amount: 1})
			return benchOutcome(r.Outcome, r.Reason, r.Err, 1)
		}
	} else {
		op = func(ctx context.Context, seq uint64, worker int) load.Outcome {
			ts := make([]ledger.Transfer, per)
			for i := range ts {
				from, to := pick(worker)
				ts[i] = ledger.Transfer{ID: newID(), From: from, To: to, Amount: 1}
			}
			r := cl.TransferBatch(ctx, ts)
			return benchOutcome(r.Outcome, "", r.Err, per)
		}
	}
	lcfg := load.DefaultConfig()
	lcfg.Pacer = load.ConstantPacer{Rate: rate}
	lcfg.MaxWorkers = conns
	lcfg.Timeout = 10 * time.Second
	if warmup > 0 {
		lcfg.Duration = warmup
		if _, err := load.Run(ctx, lcfg, op); err != nil {
			return benchRun{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	leader := c.Leader()
	var before float64
	if leader != nil {
		before = float64(leader.GroupCommitEntries())
	}
	lcfg.Duration = duration
	rep, err := load.Run(ctx, lcfg, op)
	if err != nil {
		return benchRun{}, fmt.Errorf("measured run: %w", err)
	}
	br := benchRun{
		transfersPerSec: float64(rep.OK+rep.Rejected) * float64(per) / rep.SendWindow.Seconds(),
		requestsPerSec:  rep.Rate,
		p50:             rep.P50(), p99: rep.P99(), p999: rep.P999(), max: rep.Max(),
		ok: rep.OK, rejected: rep.Rejected, failed: rep.Failed, unknown: rep.Unknown,
		late: rep.Late, missed: rep.Missed, limited: rep.LimitReason,
	}
	if per == 1 && leader != nil {
		if entries := float64(leader.GroupCommitEntries()) - before; entries > 0 {
			br.batchMean = float64(rep.OK+rep.Rejected) / entries
		}
	}
	if len(rep.Reasons) > 0 {
		var rs []string
		for k, v := range rep.Reasons {
			rs = append(rs, fmt.Sprintf("%s×%d", k, v))
		}
		slices.Sort(rs)
		if br.limited != "" {
			br.limited += "; "
		}
		br.limited += "non-ok reasons: " + strings.Join(rs, ", ")
	}
	return br, nil
}

func benchOutcome(o outcome.Kind, reason string, err error, items int) load.Outcome {
	out := load.Outcome{Kind: o, Items: items, Reason: reason}
	if err != nil && out.Reason == "" {
		var apiErr *client.APIError
		switch {
		case errors.As(err, &apiErr):
			out.Reason = fmt.Sprintf("http %d %s", apiErr.Code, apiErr.Reason)
		case errors.Is(err, context.DeadlineExceeded):
			out.Reason = "timeout"
		default:
			out.Reason = "transport error"
		}
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
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
