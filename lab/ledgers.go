package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/cluster"
	"paylab/regions"
	"paylab/results"
)

// labGroupCommitInterval is the ledger nodes' GroupCommitInterval in a lab: under load a group-commit entry
// starts at most every 5 ms, so each raft entry (three fsynced log appends, three state commits, two
// AppendEntries through proxies) carries more payments — about −8% CPU per payment in zone-failover at
// 2,000/s, for at most 5 ms more latency (docs/PERFORMANCE.md, "Cut 2").
const labGroupCommitInterval = 5 * time.Millisecond

// LedgerName is the ledger node id used for a placement: "us-east-a" (raft ids cannot hold ':' or '/').
func LedgerName(id regions.NodeID) string {
	s := strings.TrimPrefix(string(id), "ledger:")
	return strings.NewReplacer("/", "-", ":", "-").Replace(s)
}

// startLedger starts the ledger cluster (cluster.Local) with every raft link through the network's proxies,
// registers each node's API for the gateways' links, waits for a leader (the scenario's initial leader, if it
// names one) and opens the lab's control client.
func (l *Lab) startLedger(ctx context.Context) error {
	for _, n := range l.s.Topology.LedgerNodes() {
		l.ledgerIDs = append(l.ledgerIDs, n.ID)
	}
	names := make([]string, len(l.ledgerIDs))
	for i, id := range l.ledgerIDs {
		names[i] = LedgerName(id)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := cluster.Start(wctx, cluster.Options{
		IDs: names, Dir: l.opts.Dir, Configure: l.configureLedger,
		Listen: func(name string) (raft.StreamLayer, error) { return l.nw.ListenRaft(l.placement(name)) },
		Wire:   l.wireLedger,
	})
	if err != nil {
		return fmt.Errorf("start ledger: %w", err)
	}
	l.cluster = c
	ccfg := client.DefaultConfig(cluster.URLs(c))
	ccfg.Deadline = 30 * time.Second
	if l.ctl, err = client.New(ccfg); err != nil {
		return err
	}
	leader, err := l.waitLeader(wctx)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if il := l.s.Topology.Ledger.InitialLeader; il != nil && leader != regions.LedgerID(*il) {
		if leader, err = l.pinLeader(wctx, leader, regions.LedgerID(*il)); err != nil {
			return fmt.Errorf("ledger: initial leader %s: %w", *il, err)
		}
	}
	cfg := ledger.DefaultConfig()
	applyLedgerSettings(&cfg, l.s)
	l.logf("ledger: %d nodes, leader %s (heartbeat %v, election %v)", len(names), leader, cfg.HeartbeatTimeout, cfg.ElectionTimeout)
	return nil
}

// configureLedger sets ledger node i's configuration from the scenario (cluster.Start has set its id and
// directory, Dir/<id>).
func (l *Lab) configureLedger(i int, cfg *ledger.Config) {
	applyLedgerSettings(cfg, l.s)
	cfg.GroupCommitInterval = labGroupCommitInterval
	cfg.LogOutput = l.opts.RaftLog
	placed := l.ledgerIDs[i]
	cfg.OnSnapshotInstalled = func(index uint64) {
		// On raft's FSM goroutine, which must not wait for the lab's lock: the event is recorded by a
		// goroutine the lab owns (Close waits for it).
		now := time.Now()
		l.bg.Go(func() {
			l.Record(results.Event{At: l.Since(now), Kind: results.EventNote, Name: "snapshot-installed", Target: string(placed),
				Detail: fmt.Sprintf("caught up from the leader's snapshot at index %d", index)})
		})
	}
}

// wireLedger registers every ledger node's API address for the links from gateways and creates the proxies
// of the raft links, before the cluster is bootstrapped.
func (l *Lab) wireLedger(ctx context.Context, c *cluster.Local) error {
	for _, id := range l.ledgerIDs {
		addr, err := c.HTTPAddr(LedgerName(id))
		if err != nil {
			return err
		}
		if err := l.nw.RegisterFor(id, regions.KindGateway, addr); err != nil {
			return err
		}
	}
	if err := l.nw.Connect(ctx); err != nil {
		return fmt.Errorf("connect the ledger's links: %w", err)
	}
	return nil
}

// placement is the ledger node's placement for its raft id ("" when none has it).
func (l *Lab) placement(name string) regions.NodeID {
	i := slices.IndexFunc(l.ledgerIDs, func(id regions.NodeID) bool { return LedgerName(id) == name })
	if i < 0 {
		return ""
	}
	return l.ledgerIDs[i]
}

// pinLeader hands leadership from the current leader to want (raft's leadership transfer), retrying a
// bounded number of times (a transfer can lose to a concurrent election), and returns the leader after.
func (l *Lab) pinLeader(ctx context.Context, leader, want regions.NodeID) (regions.NodeID, error) {
	if !slices.Contains(l.ledgerIDs, want) {
		return leader, fmt.Errorf("no ledger node %s", want)
	}
	var errs []error
	for range pinLeaderAttempts {
		err := l.cluster.TransferLeadership(ctx, LedgerName(leader), LedgerName(want))
		if err != nil && !errors.Is(err, cluster.ErrDown) {
			errs = append(errs, err)
		}
		got, err := l.waitLeader(ctx)
		if err != nil {
			return leader, errors.Join(append(errs, err)...)
		}
		if leader = got; leader == want {
			return leader, nil
		}
	}
	return leader, fmt.Errorf("still led by %s after %d transfers: %w", leader, pinLeaderAttempts, errors.Join(errs...))
}

// pinLeaderAttempts bounds the leadership transfers pinLeader tries.
const pinLeaderAttempts = 5

// waitLeader waits until some live node is a ready leader and returns its placement.
func (l *Lab) waitLeader(ctx context.Context) (regions.NodeID, error) {
	name, err := cluster.WaitLeader(ctx, l.cluster)
	return l.placement(name), err
}

func (l *Lab) seedAccounts(ctx context.Context) error {
	if err := cluster.Seed(ctx, l.ctl, l.s.Accounts.Count, l.s.Accounts.Balance); err != nil {
		return err
	}
	l.logf("accounts: %d × %d", l.s.Accounts.Count, l.s.Accounts.Balance)
	return nil
}

// LedgerNodes lists the ledger nodes in topology order.
func (l *Lab) LedgerNodes() []regions.NodeID { return slices.Clone(l.ledgerIDs) }

// LeaderNode is the placement of the ready ledger leader, if any.
func (l *Lab) LeaderNode() (regions.NodeID, bool) {
	id, _ := l.leaderTerm()
	return id, id != ""
}

// leaderTerm is the ready leader and its raft term, or "" and 0.
func (l *Lab) leaderTerm() (regions.NodeID, uint64) {
	if l.cluster == nil {
		return "", 0
	}
	if name, term, ok := l.cluster.Leader(); ok {
		return l.placement(name), term
	}
	return "", 0
}

// ledgerNode is a ledger replica as the lab reads it after a run: its placement, its raft id, and its
// in-process node (nil while it is down). Replicas are read in-process (their FSM) while the cluster is a
// cluster.Local; a cluster of child processes would be read through each node's API instead.
type ledgerNode struct {
	id   regions.NodeID
	name string
	node *ledger.Node
}

// inProcess is what a cluster running its nodes in this process offers beyond cluster.Cluster.
type inProcess interface {
	Node(id string) *ledger.Node
}

// ledgerNodes is every ledger replica now, in topology order. It does not take the lab's lock.
func (l *Lab) ledgerNodes() []*ledgerNode {
	out := make([]*ledgerNode, len(l.ledgerIDs))
	for i, id := range l.ledgerIDs {
		out[i], _ = l.ledger(id)
	}
	return out
}

// ledger is one ledger replica now. It does not take the lab's lock.
func (l *Lab) ledger(id regions.NodeID) (*ledgerNode, error) {
	if !slices.Contains(l.ledgerIDs, id) {
		return nil, fmt.Errorf("no ledger node %s", id)
	}
	n := &ledgerNode{id: id, name: LedgerName(id)}
	if c, ok := l.cluster.(inProcess); ok {
		n.node = c.Node(n.name)
	}
	return n, nil
}

func (l *Lab) crashLedger(ctx context.Context, id regions.NodeID) error {
	if err := l.cluster.Crash(ctx, LedgerName(id)); err != nil {
		if errors.Is(err, cluster.ErrDown) {
			return fmt.Errorf("crash %s: %w", id, errAlreadyDown)
		}
		return fmt.Errorf("crash %s: %w", id, err)
	}
	return nil
}

// restartLedger starts a crashed ledger node again. The lab's lock is not held: ledger.Start replays the
// log and can take a while, and holding l.mu across it stalled the progress line, the leader watcher and
// event recording.
func (l *Lab) restartLedger(ctx context.Context, id regions.NodeID) error {
	if err := l.cluster.Restart(ctx, LedgerName(id)); err != nil {
		if errors.Is(err, cluster.ErrUp) {
			return fmt.Errorf("restart %s: %w", id, errAlreadyUp)
		}
		return fmt.Errorf("%s: %w", id, err)
	}
	return nil
}

// httpURL is a ledger node's API base URL (the control plane's direct address).
func (l *Lab) httpURL(id regions.NodeID) string {
	if l.cluster == nil {
		return ""
	}
	if addr, err := l.cluster.HTTPAddr(LedgerName(id)); err == nil {
		return "http://" + addr
	}
	return ""
}
