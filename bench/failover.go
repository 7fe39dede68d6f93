package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/cluster"
)

// FailoverConfig is one failover benchmark.
type FailoverConfig struct {
	Cluster ClusterConfig
	// Proxied sends every raft link through its own toxiproxy proxy.
	Proxied bool
	// Kills is how many times the leader is killed.
	Kills int
	// Rate is the background transfers per second.
	Rate float64
	// Settle is the load before each kill, after the killed node has rejoined.
	Settle time.Duration
	// Stall: a kill with no commit within it counts as a stall.
	Stall time.Duration
	// GiveUp ends the wait for a commit after a kill; the killed node is restarted and the run goes on.
	GiveUp time.Duration
	// Target is the p99 failover time the run must stay within.
	Target time.Duration
	// ClientBackoff is the client's first pause before retrying when no leader is known.
	ClientBackoff time.Duration
	// Timeout bounds one background transfer, retries included.
	Timeout time.Duration
	// MaxInFlight bounds the background transfers in flight; beyond it sends are late.
	MaxInFlight int
}

// failoverAccounts is how many accounts the background transfers move money between.
const failoverAccounts = 1000

// Failover kills the leader cfg.Kills times under load, prints each kill's failover time, then the summary.
func Failover(ctx context.Context, cfg FailoverConfig, w io.Writer) error {
	c, err := StartCluster(ctx, cfg.Cluster, cfg.Proxied)
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	defer c.Close()
	ccfg := client.DefaultConfig(cluster.URLs(c))
	ccfg.AttemptTimeout = 500 * time.Millisecond
	ccfg.Backoff = cfg.ClientBackoff
	cl, err := client.New(ccfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cluster.Seed(ctx, cl, failoverAccounts, 1_000_000_000); err != nil {
		return err
	}
	fmt.Fprintf(w, "bench failover: %d nodes, heartbeat %s, election %s, %g transfers/s background, client backoff %s, %d kills\n",
		cfg.Cluster.Nodes, cfg.Cluster.Heartbeat, cfg.Cluster.Election, cfg.Rate, cfg.ClientBackoff, cfg.Kills)
	r := &failoverRun{cfg: cfg, c: c, w: w, bg: startBackground(ctx, cl, cfg), lags: startLagSampler()}
	defer r.stop()
	return r.run(ctx)
}

// failoverRun is a failover benchmark under way.
type failoverRun struct {
	cfg       FailoverConfig
	c         *Cluster
	w         io.Writer
	bg        *background
	lags      *lagSampler
	lagsDone  bool
	kills     []killResult
	killTerms uint64 // terms the measured failovers used
}

// run kills, measures and restarts, then prints the summary.
func (r *failoverRun) run(ctx context.Context) error {
	firstTerm := cluster.MaxTerm(r.c)
	for k := 0; k < r.cfg.Kills && ctx.Err() == nil; k++ {
		client.Sleep(ctx, r.cfg.Settle)
		res, killed, err := r.kill(ctx, k)
		if err != nil {
			return err
		}
		if !killed {
			k--
			continue // lost leadership between the two looks
		}
		r.kills = append(r.kills, res)
		r.killTerms += res.terms
		r.printKill(k, res)
		if err := r.rejoin(ctx, k, res.leader); err != nil {
			return err
		}
	}
	end := r.bg.since()
	rep, err := r.bg.stop()
	if err != nil {
		return err
	}
	if len(r.kills) == 0 {
		return ctx.Err()
	}
	sum := summarize(r.kills, r.cfg.Stall, r.cfg.Target, r.cfg.Cluster.LeaseTimeout())
	sum.longestGap = r.bg.gaps.close(end)
	sum.maxLag, sum.starvedShare = r.stopLags()
	if total := cluster.MaxTerm(r.c) - firstTerm; total > r.killTerms {
		sum.steadyTerms = total - r.killTerms
	}
	sum.attemptsPerCall = r.bg.attemptsPerCall()
	if rep != nil {
		sum.backgroundP99 = rep.P99()
		sum.bgOK, sum.bgFailed, sum.bgUnknown = rep.OK, rep.Failed, rep.Unknown
		sum.late, sum.missed, sum.limited = rep.Late, rep.Missed, rep.LimitReason
		if len(rep.Reasons) > 0 {
			fmt.Fprintf(r.w, "non-ok reasons: %s\n", reasons(rep))
		}
	}
	sum.print(r.w)
	return nil
}

// kill crashes the ready leader and waits for the first commit of a transfer sent after the kill, up to the
// give-up bound. killed is false when no node was leader at the moment of the kill (nothing was done).
func (r *failoverRun) kill(ctx context.Context, k int) (res killResult, killed bool, err error) {
	if _, err := cluster.WaitLeader(ctx, r.c); err != nil {
		return res, false, err
	}
	id, before, ok := r.c.Leader()
	if !ok {
		return res, false, nil
	}
	ka := r.bg.markKill()
	if err := r.c.Crash(ctx, id); err != nil {
		return res, false, fmt.Errorf("kill %d: %w", k+1, err)
	}
	res.leader = id
	r.lags.window()
	deadline := time.Now().Add(r.cfg.GiveUp)
	for r.bg.firstCommit.Load() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if fc := r.bg.firstCommit.Load(); fc != 0 {
		res.failover, res.committed = time.Duration(fc)-ka, true
	} else {
		res.failover = r.cfg.GiveUp
	}
	res.terms = cluster.MaxTerm(r.c) - before
	res.lag = r.lags.window()
	return res, true, nil
}

func (r *failoverRun) printKill(k int, res killResult) {
	note := ""
	switch {
	case !res.committed:
		note = fmt.Sprintf("  STALL: nothing committed within %s", r.cfg.GiveUp)
	case res.failover > r.cfg.Stall:
		note = fmt.Sprintf("  STALL: over %s", r.cfg.Stall)
	}
	fmt.Fprintf(r.w, "kill %2d: leader %s → first commit of a transfer sent after the kill: %s (%d term(s), scheduler lag max %s)%s\n",
		k+1, res.leader, ms(res.failover), res.terms, ms(res.lag), note)
}

// rejoin restarts the killed node and waits until it holds what the cluster had committed when it came
// back; otherwise the next kill could leave no quorum of up-to-date nodes.
func (r *failoverRun) rejoin(ctx context.Context, k int, id string) error {
	if err := r.c.Restart(ctx, id); err != nil {
		return fmt.Errorf("restart after kill %d: %w", k+1, err)
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.GiveUp+30*time.Second)
	defer cancel()
	leader, err := cluster.WaitLeader(wctx, r.c)
	var st ledger.NodeStatus
	if err == nil {
		st, err = r.c.Status(leader)
	}
	if err == nil {
		err = waitCaughtUp(wctx, r.c, id, st.CommitIndex)
	}
	if err != nil {
		return fmt.Errorf("after kill %d the cluster did not recover with all nodes up: %w", k+1, err)
	}
	return nil
}

// stopLags stops the lag sampler once and returns its figures.
func (r *failoverRun) stopLags() (time.Duration, float64) {
	if r.lagsDone {
		return 0, 0
	}
	r.lagsDone = true
	return r.lags.stop()
}

// stop ends what the run started (on every path out of it).
func (r *failoverRun) stop() {
	r.stopLags()
	_, _ = r.bg.stop()
}

// waitCaughtUp waits until node id knows commit index target and its state machine holds every entry up to
// it. (Waiting for the state machine to reach the index itself can wait forever: a new leader's no-op and
// barrier entries never reach it.)
func waitCaughtUp(ctx context.Context, c *Cluster, id string, target uint64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		n := c.Node(id)
		if n != nil && n.Status().CommitIndex >= target {
			if ok, err := n.CaughtUp(); err == nil && ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			st := "down"
			if n != nil {
				s := n.Status()
				st = fmt.Sprintf("commit index %d, applied %d", s.CommitIndex, s.AppliedIndex)
			}
			return fmt.Errorf("wait for %s to catch up to index %d (%s): %w", id, target, st, ctx.Err())
		case <-t.C:
		}
	}
}
