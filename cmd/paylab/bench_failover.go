package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"paylab/lab/load"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
	"paylab/outcome"
)

// killResult is what one leader kill cost.
type killResult struct {
	leader string
	// failover runs from the kill to the completion of the first transfer sent after it that committed;
	// when none committed within the give-up bound it is that bound and committed is false.
	failover  time.Duration
	committed bool
	// lag is the largest scheduler lag of this process while the failover was measured.
	lag time.Duration
	// terms is how many raft terms the failover used: 1 is a clean election, more are split votes or
	// leaders that stepped down again before anything committed.
	terms uint64
}

// failoverSummary is the figures of a failover benchmark; every stall is a figure, never an abort.
type failoverSummary struct {
	kills                     int
	min, p50, p90, p99, max   time.Duration
	stalls                    int // kills with no commit within the stall bound
	neverCommitted            int // kills with no commit within the give-up bound
	meanTerms                 float64
	maxTerms                  uint64
	longestGap                time.Duration // longest time with no committed transfer at all, over the whole run
	steadyTerms               uint64        // terms that began while no kill was being measured (step-downs)
	stallBound, targetBound   time.Duration
	starvedLag                time.Duration
	overTarget, overStarved   int
	maxLag                    time.Duration
	attemptsPerCall           float64
	late, missed              uint64
	limited                   string
	starvedShare              float64
	backgroundP99             time.Duration
	bgOK, bgFailed, bgUnknown uint64
}

// summarize computes the failover figures. Quantiles are nearest-rank over the kills.
//
// A kill over the target during which this process's scheduler lag exceeded starvedLag (the lease: raft's
// own timers were late by more than it) is counted as starved: it measured the machine, not raft.
func summarize(kills []killResult, stallBound, target, starvedLag time.Duration) failoverSummary {
	s := failoverSummary{kills: len(kills), stallBound: stallBound, targetBound: target, starvedLag: starvedLag}
	if len(kills) == 0 {
		return s
	}
	times := make([]time.Duration, len(kills))
	var terms uint64
	for i, k := range kills {
		times[i] = k.failover
		if !k.committed {
			s.neverCommitted++
		}
		if !k.committed || k.failover > stallBound {
			s.stalls++
		}
		terms += k.terms
		s.maxTerms = max(s.maxTerms, k.terms)
		if k.failover > target || !k.committed {
			s.overTarget++
			if k.lag > starvedLag {
				s.overStarved++
			}
		}
	}
	s.meanTerms = float64(terms) / float64(len(kills))
	slices.Sort(times)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(times))+0.999999) - 1
		return times[max(0, min(i, len(times)-1))]
	}
	s.min, s.p50, s.p90, s.p99, s.max = times[0], q(0.5), q(0.9), q(0.99), times[len(times)-1]
	return s
}

// met reports whether the run met its target: no stall — no kill without a commit within the stall bound
// and no time without any commit longer than it, also between kills — and p99 within the bound.
func (s failoverSummary) met() bool {
	return s.kills > 0 && s.stalls == 0 && s.longestGap <= s.stallBound && s.p99 <= s.targetBound
}

// verdict is met, MISSED, or UNKNOWN when every kill over the target happened while the process was starved
// (scheduler lag over the lease) and nothing stalled between kills: the machine, not raft, was measured.
func (s failoverSummary) verdict() string {
	switch {
	case s.met():
		return "met"
	case s.overTarget > 0 && s.overStarved == s.overTarget && s.longestGap <= s.stallBound:
		return fmt.Sprintf("UNKNOWN — all %d kills over the target ran with this process starved (scheduler lag over %s)", s.overTarget, s.starvedLag)
	}
	return "MISSED"
}

func (s failoverSummary) print(w io.Writer) {
	fmt.Fprintf(w, "failover over %d kills: min %s  p50 %s  p90 %s  p99 %s  max %s\n",
		s.kills, ms(s.min), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max))
	fmt.Fprintf(w, "stalls (no commit within %s): %d (never committed: %d)  longest gap with no commit: %s\n",
		s.stallBound, s.stalls, s.neverCommitted, ms(s.longestGap))
	fmt.Fprintf(w, "terms per failover: mean %.2f, max %d  (1 = one clean election)  leader changes with no kill: %d\n",
		s.meanTerms, s.maxTerms, s.steadyTerms)
	fmt.Fprintf(w, "scheduler lag (a %s sleep woken late): max %s; %.1f%% of samples over %s\n", lagTick, ms(s.maxLag), 100*s.starvedShare, lagStarved)
	fmt.Fprintf(w, "background transfers: ok %d  failed %d  unknown %d  p99 %s  HTTP attempts per transfer %.2f\n",
		s.bgOK, s.bgFailed, s.bgUnknown, ms(s.backgroundP99), s.attemptsPerCall)
	if s.late > 0 || s.missed > 0 {
		fmt.Fprintf(w, "background sends late %d, missed %d (%s)\n", s.late, s.missed, s.limited)
	}
	fmt.Fprintf(w, "kills over the target: %d, of them with the process starved (scheduler lag over %s): %d\n", s.overTarget, s.starvedLag, s.overStarved)
	fmt.Fprintf(w, "target (no stall over %s, p99 ≤ %s): %s\n", s.stallBound, s.targetBound, s.verdict())
}

// waitCaughtUp waits until node i knows commit index target and its state machine holds every entry up to
// it. (Waiting for the state machine to reach the index itself can wait forever: a new leader's no-op and
// barrier entries never reach it.)
func waitCaughtUp(ctx context.Context, c *ledgertest.Cluster, i int, target uint64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		n := c.Node(i)
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
			return fmt.Errorf("wait for %s to catch up to index %d (%s): %w", c.Config(i).ID, target, st, ctx.Err())
		case <-t.C:
		}
	}
}

// lagSampler measures this process's scheduler lag: how late a goroutine that sleeps lagTick wakes up. Raft's
// timers and RPCs run on the same scheduler, so a lag near the heartbeat timeout means the failover measures a
// starved process, not raft.
type lagSampler struct {
	mu       sync.Mutex
	windowMx time.Duration // since the last window() call
	overall  time.Duration
	samples  uint64
	over     uint64 // samples later than lagStarved
	done     chan struct{}
	stopped  chan struct{}
}

const (
	lagTick    = 5 * time.Millisecond
	lagStarved = 20 * time.Millisecond
)

func startLagSampler() *lagSampler {
	s := &lagSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		t := time.NewTimer(lagTick)
		defer t.Stop()
		for {
			start := time.Now()
			t.Reset(lagTick)
			select {
			case <-s.done:
				return
			case <-t.C:
			}
			lag := max(0, time.Since(start)-lagTick)
			s.mu.Lock()
			s.windowMx = max(s.windowMx, lag)
			s.overall = max(s.overall, lag)
			s.samples++
			if lag > lagStarved {
				s.over++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// window returns the largest lag since the previous call.
func (s *lagSampler) window() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.windowMx
	s.windowMx = 0
	return m
}

func (s *lagSampler) stop() (maxLag time.Duration, starvedShare float64) {
	close(s.done)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples > 0 {
		starvedShare = float64(s.over) / float64(s.samples)
	}
	return s.overall, starvedShare
}

// gapTracker records the longest interval between consecutive commits.
type gapTracker struct {
	mu      sync.Mutex
	started bool
	last    time.Duration
	longest time.Duration
}

func (g *gapTracker) observe(at time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started && at > g.last {
		g.longest = max(g.longest, at-g.last)
	}
	if !g.started || at > g.last {
		g.last, g.started = at, true
	}
}

// close counts the time from the last commit to at (a run that ends inside a stall).
func (g *gapTracker) close(at time.Duration) time.Duration {
	g.observe(at)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.longest
}

func benchFailover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylab bench failover", flag.ContinueOnError)
	var cf clusterFlags
	cf.register(fs)
	kills := fs.Int("kills", 20, "leader kills")
	rate := fs.Float64("rate", 2000, "background transfers per second")
	settle := fs.Duration("settle", 500*time.Millisecond, "load before each kill, after the killed node has rejoined")
	stall := fs.Duration("stall", 10*time.Second, "a kill with no commit within this is counted as a stall")
	giveUp := fs.Duration("give-up", 30*time.Second, "stop waiting for a commit after a kill, restart the killed node and go on")
	target := fs.Duration("target", 500*time.Millisecond, "the p99 failover time the run must stay within")
	backoff := fs.Duration("client-backoff", 10*time.Millisecond, "the client's first pause before retrying when no leader is known (doubles up to 8×)")
	opTimeout := fs.Duration("timeout", 2*time.Second, "the longest one background transfer may take, retries included")
	inflight := fs.Int("max-inflight", 0, "the most background transfers in flight (default: one second of --rate); beyond it sends are late, and the report says so")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylab bench failover [flags]\n\nKills the leader of an in-process durable ledger cluster abruptly, under load, --kills times, and prints the\ndistribution of the time from each kill to the next committed transfer, the kills that stalled (no commit\nwithin --stall), the longest time with no commit at all, and the raft terms each failover used. The killed\nnode restarts and rejoins before the next kill.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *kills < 1 || *kills > 1000 || *rate <= 0 || *rate > 100_000 || *settle < 0 || *settle > time.Minute ||
		*stall <= 0 || *giveUp < *stall || *giveUp > 10*time.Minute || *backoff < 0 || *backoff > time.Second ||
		*opTimeout <= 0 || *opTimeout > time.Minute || *inflight < 0 || *inflight > load.MaxWorkersLimit || *target <= 0 {
		return fmt.Errorf("%w: --kills must be in 1..1000, --rate in (0, 100000], --settle in [0, 1m], --stall > 0, --give-up in [--stall, 10m], --client-backoff in [0, 1s], --timeout in (0, 1m], --max-inflight in 0..%d", errUsage, load.MaxWorkersLimit)
	}
	if *inflight == 0 {
		*inflight = max(64, int(*rate))
	}
	if cf.nodes < 3 {
		return fmt.Errorf("%w: failover needs --nodes ≥ 3", errUsage)
	}
	c, stop, err := cf.start(ctx, cf.network == "proxied")
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	defer stop()
	ccfg := client.DefaultConfig(c.URLs())
	ccfg.AttemptTimeout = 500 * time.Millisecond
	ccfg.Backoff = *backoff
	cl, err := client.New(ccfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := seed(ctx, cl, 1000, 1_000_000_000); err != nil {
		return fmt.Errorf("seed accounts: %w", err)
	}
	fmt.Fprintf(stdout, "bench failover: %d nodes, heartbeat %s, election %s, %g transfers/s background, client backoff %s, %d kills\n",
		cf.nodes, cf.heartbeat, cf.election, *rate, *backoff, *kills)

	// The failover time of a kill runs from the kill to the completion of the first transfer that was sent
	// after the kill and committed: a transfer the old leader committed just before dying must not count.
	var killAt, firstCommit atomic.Int64 // nanoseconds since t0; firstCommit 0 = none yet
	var gaps gapTracker
	var attempts, calls atomic.Uint64 // HTTP attempts the client made, and transfers: retries are load too
	t0 := time.Now()
	op := func(ctx context.Context, seq uint64, worker int) load.Outcome {
		sent := int64(time.Since(t0))
		r := cl.Transfer(ctx, ledger.Transfer{From: fmt.Sprintf("acc-%d", seq%1000), To: fmt.Sprintf("acc-%d", (seq+1)%1000), Amount: 1})
		attempts.Add(uint64(r.Attempts))
		calls.Add(1)
		if r.Outcome == outcome.OK {
			done := time.Since(t0)
			gaps.observe(done)
			if sent > killAt.Load() {
				firstCommit.CompareAndSwap(0, int64(done))
			}
		}
		return benchOutcome(r.Outcome, r.Reason, r.Err, 1)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	lcfg := load.DefaultConfig()
	lcfg.Pacer = load.ConstantPacer{Rate: *rate}
	lcfg.Duration = 6 * time.Hour // stopped after the last kill (the recorder keeps at most 18 h of windows)
	// Bounded: while no leader is known every transfer in flight retries, and an unbounded open-model load
	// turns a slow election into thousands of retrying requests that starve the very process raft runs in
	// (measured: 186,000 timed-out transfers, 2.7 s of scheduler lag and 6 minutes without a leader).
	lcfg.Timeout = *opTimeout
	lcfg.MaxWorkers = *inflight
	type loadResult struct {
		rep *load.Report
		err error
	}
	loadDone := make(chan loadResult, 1)
	go func() {
		rep, err := load.Run(loadCtx, lcfg, op)
		loadDone <- loadResult{rep, err}
	}()
	var rep *load.Report
	loadOver := false
	stopBackground := func() error {
		if loadOver {
			return nil
		}
		loadOver = true
		stopLoad()
		r := <-loadDone
		rep = r.rep
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			return fmt.Errorf("background load: %w", r.err)
		}
		return nil
	}
	defer stopBackground()

	term := func() uint64 { // the highest term any live node knows
		var t uint64
		for _, n := range c.Live() {
			t = max(t, n.Status().Term)
		}
		return t
	}
	lags := startLagSampler()
	defer func() {
		if lags != nil {
			lags.stop()
		}
	}()
	firstTerm := term()
	var results []killResult
	var killTerms uint64
	for k := 0; k < *kills && ctx.Err() == nil; k++ {
		sleepCtx(ctx, *settle)
		l, err := c.WaitLeader(ctx)
		if err != nil {
			return err
		}
		li := c.LeaderIndex()
		if li < 0 {
			k--
			continue // lost leadership between the two calls
		}
		before := l.Status().Term
		firstCommit.Store(0)
		ka := int64(time.Since(t0))
		killAt.Store(ka)
		if err := c.Crash(li); err != nil {
			return fmt.Errorf("kill %d: %w", k+1, err)
		}
		res := killResult{leader: c.Config(li).ID}
		lags.window()
		deadline := time.Now().Add(*giveUp)
		for firstCommit.Load() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		if fc := firstCommit.Load(); fc != 0 {
			res.failover, res.committed = time.Duration(fc-ka), true
		} else {
			res.failover = *giveUp
		}
		res.terms = term() - before
		res.lag = lags.window()
		killTerms += res.terms
		results = append(results, res)
		note := ""
		switch {
		case !res.committed:
			note = fmt.Sprintf("  STALL: nothing committed within %s", *giveUp)
		case res.failover > *stall:
			note = fmt.Sprintf("  STALL: over %s", *stall)
		}
		fmt.Fprintf(stdout, "kill %2d: leader %s → first commit of a transfer sent after the kill: %s (%d term(s), scheduler lag max %s)%s\n",
			k+1, res.leader, ms(res.failover), res.terms, ms(res.lag), note)
		if _, err := c.Restart(li); err != nil {
			return fmt.Errorf("restart after kill %d: %w", k+1, err)
		}
		// Before the next kill the restarted node must hold what the cluster had committed when it came
		// back; otherwise the next kill could leave no quorum of up-to-date nodes.
		wctx, cancel := context.WithTimeout(ctx, *giveUp+30*time.Second)
		l, err = c.WaitLeader(wctx)
		if err == nil {
			err = waitCaughtUp(wctx, c, li, l.Status().CommitIndex)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("after kill %d the cluster did not recover with all nodes up: %w", k+1, err)
		}
	}
	end := time.Since(t0)
	if err := stopBackground(); err != nil {
		return err
	}
	if len(results) == 0 {
		return ctx.Err()
	}
	lease := cf.heartbeat
	if cf.lease > 0 {
		lease = cf.lease
	}
	sum := summarize(results, *stall, *target, lease)
	sum.longestGap = gaps.close(end)
	sum.maxLag, sum.starvedShare = lags.stop()
	lags = nil
	if total := term() - firstTerm; total > killTerms {
		sum.steadyTerms = total - killTerms
	}
	if n := calls.Load(); n > 0 {
		sum.attemptsPerCall = float64(attempts.Load()) / float64(n)
	}
	if rep != nil {
		sum.backgroundP99 = rep.P99()
		sum.bgOK, sum.bgFailed, sum.bgUnknown = rep.OK, rep.Failed, rep.Unknown
		sum.late, sum.missed, sum.limited = rep.Late, rep.Missed, rep.LimitReason
		if len(rep.Reasons) > 0 {
			var rs []string
			for k, v := range rep.Reasons {
				rs = append(rs, fmt.Sprintf("%s×%d", k, v))
			}
			slices.Sort(rs)
			fmt.Fprintf(stdout, "non-ok reasons: %s\n", strings.Join(rs, ", "))
		}
	}
	sum.print(stdout)
	return nil
}
