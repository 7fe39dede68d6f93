package ledger

import "time"

// electionBackoff stretches a node's election and heartbeat timeouts while the cluster fails to elect a
// leader, and puts them back once a leader has held for a while (2 s).
//
// Why: an election is a pre-vote round and a vote round, each an RPC to every peer answered by the peer's
// raft goroutine, with three fsynced writes on the candidate and three on each voter. When the process is
// starved of CPU (everything in the lab shares one process and two cores) those rounds take longer than the
// randomised election timeout; every candidate's timer then fires before the answers arrive, it starts a
// new round, and the late answers are thrown away — for minutes (measured: a node holding the only
// up-to-date log asked for pre-votes every 300 ms for two minutes; its peers granted each one, 80–130 ms
// late, after it had already moved on). Raft's randomisation cannot break that: the spread is as short as
// the rounds. Doubling the timeouts after each leaderless stretch gives an election time to finish on a
// starved machine; a quiet one never leaves the base timeouts, so failover stays fast there.
type electionBackoff struct {
	baseHeartbeat, baseElection time.Duration
	maxFactor                   int
	settle                      time.Duration // a leader known this long puts the base timeouts back

	factor          int
	leaderlessSince time.Time // zero while a leader is known
	leaderSince     time.Time // zero while none is
}

func newElectionBackoff(heartbeat, election time.Duration) *electionBackoff {
	return &electionBackoff{
		baseHeartbeat: heartbeat, baseElection: election, maxFactor: 8, settle: 2 * time.Second, factor: 1,
	}
}

// observe takes whether a leader is known at now and returns the timeout factor to run with, and whether it
// changed. A stretch without a leader longer than factor × stretch() doubles the factor, up to maxFactor; a
// leader known for settle resets it to 1.
func (b *electionBackoff) observe(now time.Time, hasLeader bool) (factor int, changed bool) {
	if hasLeader {
		b.leaderlessSince = time.Time{}
		if b.leaderSince.IsZero() {
			b.leaderSince = now
		}
		if b.factor > 1 && now.Sub(b.leaderSince) >= b.settle {
			b.factor = 1
			return 1, true
		}
		return b.factor, false
	}
	b.leaderSince = time.Time{}
	if b.leaderlessSince.IsZero() {
		b.leaderlessSince = now
		return b.factor, false
	}
	if now.Sub(b.leaderlessSince) > time.Duration(b.factor)*b.stretch() && b.factor < b.maxFactor {
		b.factor = min(2*b.factor, b.maxFactor)
		b.leaderlessSince = now // the next doubling waits for a full stretch at the new timeouts
		return b.factor, true
	}
	return b.factor, false
}

// stretch is how long a leaderless stretch at the base timeouts must last before they double: three full
// rounds of failure detection and a refused pre-vote (heartbeat + 2 × election), longer than any failover
// on a quiet machine (docs/PERFORMANCE.md), so the backoff only acts when elections keep failing.
func (b *electionBackoff) stretch() time.Duration { return 3 * (b.baseHeartbeat + 2*b.baseElection) }

// timeouts are the heartbeat and election timeouts at a factor.
func (b *electionBackoff) timeouts(factor int) (heartbeat, election time.Duration) {
	return time.Duration(factor) * b.baseHeartbeat, time.Duration(factor) * b.baseElection
}

// runElectionBackoff polls raft for a known leader and reloads the timeouts when the backoff says so.
func (n *Node) runElectionBackoff() {
	b := newElectionBackoff(n.cfg.HeartbeatTimeout, n.cfg.ElectionTimeout)
	t := time.NewTicker(n.cfg.HeartbeatTimeout)
	defer t.Stop()
	for {
		select {
		case <-n.stopCh:
			return
		case now := <-t.C:
			_, leader := n.raft.LeaderWithID()
			factor, changed := b.observe(now, leader != "")
			if !changed {
				continue
			}
			hb, et := b.timeouts(factor)
			rc := n.raft.ReloadableConfig()
			rc.HeartbeatTimeout, rc.ElectionTimeout = hb, et
			if err := n.raft.ReloadConfig(rc); err != nil {
				n.logger.Error("election backoff: reload raft timeouts", "error", err)
				continue
			}
			n.electionFactor.Store(int64(factor))
			if factor > 1 {
				n.logger.Warn("election backoff: no leader for a while, stretching the timeouts", "heartbeat", hb, "election", et)
			} else {
				n.logger.Info("election backoff: a leader held, base timeouts again", "heartbeat", hb, "election", et)
			}
		}
	}
}
