package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"paylab/lab/load"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/cluster"
)

// LedgerConfig is one ledger benchmark: Repeat runs on each network, each on a fresh cluster.
type LedgerConfig struct {
	Cluster ClusterConfig
	// Networks are the raft links to measure, interleaved run by run: false is direct TCP, true proxied.
	Networks []bool
	// PerRequest is the transfers per request: 1 is single mode (one transfer per request, group commit),
	// more is batch mode.
	PerRequest int
	// Rate is requests per second (open model).
	Rate float64
	// Duration is each run's measured load; Warmup the unmeasured load before it.
	Duration, Warmup time.Duration
	// Connections bounds concurrent requests (HTTP connections per node).
	Connections int
	// Accounts is how many accounts the transfers spread over.
	Accounts int
	// RandomIDs gives transfers random 64-bit hex ids instead of the client's time-ordered ULIDs.
	RandomIDs bool
	// Repeat is the runs per network; the medians are printed when more than one.
	Repeat int
}

// Ledger runs the benchmark, printing each run, the medians, and with two networks their throughput ratio.
func Ledger(ctx context.Context, cfg LedgerConfig, w io.Writer) error {
	runs := map[bool][]Run{}
	for i := 0; i < cfg.Repeat; i++ {
		for _, proxied := range cfg.Networks { // interleaved: direct, proxied, direct, proxied, …
			r, err := LedgerOnce(ctx, cfg, proxied)
			if err != nil {
				return err
			}
			r.Print(w, fmt.Sprintf("run %d/%d %s", i+1, cfg.Repeat, netName(proxied)))
			runs[proxied] = append(runs[proxied], r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	meds := map[bool]Run{}
	for _, proxied := range cfg.Networks {
		meds[proxied] = Median(runs[proxied])
		if len(runs[proxied]) > 1 {
			meds[proxied].Print(w, fmt.Sprintf("median of %d %s", len(runs[proxied]), netName(proxied)))
		}
	}
	if len(cfg.Networks) == 2 && meds[false].TransfersPerSec > 0 {
		fmt.Fprintf(w, "proxied/direct throughput ratio: %.2f (medians; p99 %s vs %s)\n",
			meds[true].TransfersPerSec/meds[false].TransfersPerSec, ms(meds[true].P99), ms(meds[false].P99))
	}
	return nil
}

func netName(proxied bool) string {
	if proxied {
		return "proxied"
	}
	return "direct"
}

// LedgerOnce is one run on a fresh cluster: seed, warm up, measure.
func LedgerOnce(ctx context.Context, cfg LedgerConfig, proxied bool) (Run, error) {
	c, err := StartCluster(ctx, cfg.Cluster, proxied)
	if err != nil {
		return Run{}, fmt.Errorf("start cluster: %w", err)
	}
	defer c.Close()
	ccfg := client.DefaultConfig(cluster.URLs(c))
	ccfg.MaxConnsPerNode = cfg.Connections
	cl, err := client.New(ccfg)
	if err != nil {
		return Run{}, err
	}
	defer cl.Close()
	if err := cluster.Seed(ctx, cl, cfg.Accounts, 1_000_000_000); err != nil {
		return Run{}, err
	}
	op := transferOp(cl, cfg)
	lcfg := load.DefaultConfig()
	lcfg.Pacer = load.ConstantPacer{Rate: cfg.Rate}
	lcfg.MaxWorkers = cfg.Connections
	lcfg.Timeout = 10 * time.Second
	if cfg.Warmup > 0 {
		lcfg.Duration = cfg.Warmup
		if _, err := load.Run(ctx, lcfg, op); err != nil {
			return Run{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	leader := leaderNode(c)
	var before float64
	if leader != nil {
		before = float64(leader.GroupCommitEntries())
	}
	lcfg.Duration = cfg.Duration
	rep, err := load.Run(ctx, lcfg, op)
	if err != nil {
		return Run{}, fmt.Errorf("measured run: %w", err)
	}
	br := runOf(rep, cfg.PerRequest)
	if cfg.PerRequest == 1 && leader != nil {
		if entries := float64(leader.GroupCommitEntries()) - before; entries > 0 {
			br.BatchMean = float64(rep.OK+rep.Rejected) / entries
		}
	}
	return br, nil
}

// leaderNode is the cluster's ready leader, or nil.
func leaderNode(c *Cluster) *ledger.Node {
	if id, _, ok := c.Leader(); ok {
		return c.Node(id)
	}
	return nil
}

// runOf is a measured load report's figures.
func runOf(rep *load.Report, per int) Run {
	br := Run{
		TransfersPerSec: float64(rep.OK+rep.Rejected) * float64(per) / rep.SendWindow.Seconds(),
		RequestsPerSec:  rep.Rate,
		P50:             rep.P50(), P99: rep.P99(), P999: rep.P999(), Max: rep.Max(),
		OK: rep.OK, Rejected: rep.Rejected, Failed: rep.Failed, Unknown: rep.Unknown,
		Late: rep.Late, Missed: rep.Missed, Limited: rep.LimitReason,
	}
	if len(rep.Reasons) > 0 {
		if br.Limited != "" {
			br.Limited += "; "
		}
		br.Limited += "non-ok reasons: " + reasons(rep)
	}
	return br
}

// transferOp is the load's operation: one transfer, or a batch of PerRequest, between two distinct accounts
// drawn at random by each worker.
func transferOp(cl *client.Client, cfg LedgerConfig) load.OpFunc {
	newID := cl.NewID
	if cfg.RandomIDs {
		newID = randomID
	}
	pick := accountPicker(cfg.Accounts)
	per := cfg.PerRequest
	if per == 1 {
		return func(ctx context.Context, seq uint64, worker int) load.Outcome {
			from, to := pick(worker)
			r := cl.Transfer(ctx, ledger.Transfer{ID: newID(), From: from, To: to, Amount: 1})
			return callOutcome(r.Outcome, r.Reason, r.Err, 1)
		}
	}
	return func(ctx context.Context, seq uint64, worker int) load.Outcome {
		ts := make([]ledger.Transfer, per)
		for i := range ts {
			from, to := pick(worker)
			ts[i] = ledger.Transfer{ID: newID(), From: from, To: to, Amount: 1}
		}
		r := cl.TransferBatch(ctx, ts)
		return callOutcome(r.Outcome, "", r.Err, per)
	}
}

// accountPicker draws two distinct accounts for a worker from the worker's own random source.
func accountPicker(accounts int) func(worker int) (string, string) {
	rngs := make([]*rand.Rand, load.MaxWorkersLimit)
	return func(worker int) (string, string) {
		r := rngs[worker]
		if r == nil {
			r = rand.New(rand.NewPCG(uint64(worker), uint64(time.Now().UnixNano())))
			rngs[worker] = r
		}
		a := r.IntN(accounts)
		b := (a + 1 + r.IntN(accounts-1)) % accounts
		return cluster.AccountID(a), cluster.AccountID(b)
	}
}

// randomID is a random 64-bit transfer id in hex.
func randomID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
