package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/net/netutil"

	"paylab/loopback"
)

// logCacheEntries is how many of the newest raft log entries each node keeps in memory (raft.LogCache), as
// many as one AppendEntries carries (MaxAppendEntries). A group-commit entry holds at most GroupCommitMax
// transfers of ~100 bytes, so the cache is bounded by ~13 MB per node at the largest entries and is a few
// hundred KB at a lab's usual sizes. Measured in docs/PERFORMANCE.md ("CPU per payment").
const logCacheEntries = 256

// Node is one ledger replica: raft, its stores, the state machine, group commit and the HTTP API.
// Start it with Start; stop it with Close (clean) or Crash (abrupt, as a killed process would).
type Node struct {
	cfg    Config
	logger hclog.Logger
	fsm    *FSM
	open   OpenReport
	logs   *timedStore
	// cached is logs behind raft's LogCache: the newest logCacheEntries entries stay in memory, so the
	// leader's replication and read-index lookups (lastFSMEntry) do not open a bbolt read transaction and
	// decode the entry again for every follower and read.
	cached *raft.LogCache
	stable *voteStore
	snaps  *raft.FileSnapshotStore
	trans  *raft.NetworkTransport
	raft   *raft.Raft
	commit *groupCommit
	met    *metrics

	httpLn  net.Listener
	httpSrv *http.Server

	leaderReady    atomic.Bool  // leader and its first barrier applied: linearizable reads are safe
	raftStarted    atomic.Bool  // NewRaft returned: a restore from now on is a snapshot the leader sent
	electionFactor atomic.Int64 // the election backoff's current timeout factor (1: base timeouts)
	installs       atomic.Uint64
	stopCh         chan struct{}
	// watchDone is closed when watchLeadership has returned. Shutdown waits for it before stopping raft:
	// raft drops, unanswered, a future still queued for its state machine when it shuts down, so the
	// barrier watchLeadership may be waiting on must be settled while raft runs.
	watchDone chan struct{}
	wg        sync.WaitGroup
	stopOnce  sync.Once
	stopErr   error
}

// Server names one member of the raft configuration.
type Server struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

// Start opens the node's files, starts raft and serves the HTTP API. A node that has no raft state yet
// waits to be bootstrapped (Bootstrap) or added to a cluster (AddVoter on the leader).
func Start(cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create node dir %s: %w", cfg.Dir, err)
	}
	n = &Node{cfg: cfg, stopCh: make(chan struct{}), logger: raftLogger(cfg)}
	n.met = newMetrics(n)
	var undo closers
	defer func() {
		if err != nil {
			undo.run()
		}
	}()

	trustState, err := n.openStores(&undo)
	if err != nil {
		return nil, err
	}
	layer := cfg.StreamLayer
	if layer == nil {
		if layer, err = NewTCPStreamLayer(cfg.RaftAddr); err != nil {
			return nil, err
		}
	}
	n.trans = newRaftTransport(cfg, layer, n.logger)
	undo.push(func() { n.trans.Close() })

	notify := make(chan bool, 16)
	n.raft, err = raft.NewRaft(n.raftConfig(trustState, notify), nodeFSM{n.fsm, n}, n.cached, n.stable, n.snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("start raft on node %s: %w", cfg.ID, err)
	}
	n.raftStarted.Store(true)
	undo.push(func() { n.raft.Shutdown().Error() })

	n.commit = newGroupCommit(n)
	undo = nil // from here on n.shutdown releases everything
	n.startWatchers(notify)
	if err := n.serveHTTP(); err != nil {
		n.shutdown(false)
		return nil, err
	}
	return n, nil
}

// closers undoes a partial Start: the resources opened so far, closed newest first.
type closers []func()

func (c *closers) push(f func()) { *c = append(*c, f) }

func (c closers) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// raftLogger is where raft and its stores log: nowhere unless the config names an output.
func raftLogger(cfg Config) hclog.Logger {
	if cfg.LogOutput == nil {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "raft-" + cfg.ID, Output: cfg.LogOutput, Level: hclog.LevelFromString(cfg.LogLevel)})
}

// openStores opens the state machine, the raft log (behind its cache), the vote store and the snapshot
// store, pushing each one's close onto undo, and says whether raft may trust the state file as it is.
func (n *Node) openStores(undo *closers) (trustState bool, err error) {
	cfg := n.cfg
	n.fsm, n.open, err = OpenFSM(filepath.Join(cfg.Dir, "state.db"), FSMOptions{Sync: cfg.StateSync, SkipDedupe: cfg.Broken.SkipDedupe,
		DropOnRestore: cfg.Broken.DropOnRestore, ExportOmitsTransfer: cfg.Broken.ExportOmitsTransfer,
		ReplayTwice: cfg.Broken.ReplayTwice, CommitOtherAmount: cfg.Broken.CommitOtherAmount,
		AllowNegative: cfg.Broken.AllowNegative, OnApply: n.met.observeApply})
	if err != nil {
		return false, err
	}
	undo.push(func() { n.fsm.Close(false) })

	bs, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType},
	})
	if err != nil {
		return false, fmt.Errorf("open raft log %s: %w", filepath.Join(cfg.Dir, "raft.db"), err)
	}
	n.logs = &timedStore{BoltStore: bs, dur: n.met.storeDuration, reads: n.met.logReads, logger: n.logger}
	undo.push(func() { n.logs.Close() })
	if n.cached, err = raft.NewLogCache(logCacheEntries, n.logs); err != nil {
		return false, fmt.Errorf("raft log cache: %w", err)
	}
	if n.stable, err = openVoteStore(cfg.Dir, bs); err != nil {
		return false, err
	}
	n.stable.observe = n.logs.observe
	undo.push(func() { n.stable.Close() })

	n.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, n.logger)
	if err != nil {
		return false, fmt.Errorf("open snapshot store in %s: %w", cfg.Dir, err)
	}
	// Trust the state file only when it is intact and at least as new as the newest snapshot; otherwise
	// raft restores that snapshot into it and replays the log from there.
	metas, err := n.snaps.List()
	if err != nil {
		return false, fmt.Errorf("list snapshots in %s: %w", cfg.Dir, err)
	}
	return !n.open.Rebuilt && (len(metas) == 0 || metas[0].Index <= n.open.AppliedIndex), nil
}

// newRaftTransport is raft's network transport over the node's stream layer.
func newRaftTransport(cfg Config, layer raft.StreamLayer, logger hclog.Logger) *raft.NetworkTransport {
	// MaxRPCsInFlight 1 turns raft's pipelined replication off. Its pipeline can deadlock once a follower
	// rejects an append (pipelineDecode returns, the next send parks on a channel nobody reads, and the
	// deferred pipeline close never runs): replication to that follower stops for good and Shutdown hangs
	// (seen in a gateway test under -race on a busy machine; grafana/pyroscope#5518 describes the same
	// trace). Raft's own measurements (hashicorp/raft#541) find pipelining of little benefit with batching.
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: cfg.TransportTimeout, Logger: logger, MaxRPCsInFlight: 1,
	})
}

// raftConfig is raft's configuration for this node; leadership changes are sent to notify.
func (n *Node) raftConfig(trustState bool, notify chan bool) *raft.Config {
	cfg := n.cfg
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NoSnapshotRestoreOnStart = trustState
	// An unbuffered apply channel: a future sent to raft is always answered, by the leader loop (inflight,
	// answered on step-down or shutdown) or by a follower (ErrNotLeader). With BatchApplyCh a future could sit
	// in the buffer when raft shut down and never be answered — a barrier waiting on it hung Close (found by a
	// -race -count=3 stress run). Raft still groups concurrent applies into one log write.
	rc.BatchApplyCh = false
	rc.MaxAppendEntries = logCacheEntries
	rc.Logger = n.logger
	rc.NotifyCh = notify
	return rc
}

// startWatchers starts the node's goroutines beside raft: the leadership watcher (reading notify) and,
// unless turned off, the election backoff. Both end at shutdown and are counted in n.wg.
func (n *Node) startWatchers(notify <-chan bool) {
	n.watchDone = make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(n.watchDone)
		n.watchLeadership(notify)
	}()
	n.electionFactor.Store(1)
	if !n.cfg.NoElectionBackoff {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.runElectionBackoff()
		}()
	}
}

// serveHTTP listens on the node's HTTP address (at most MaxConnections at once) and serves the API in a
// goroutine counted in n.wg.
func (n *Node) serveHTTP() error {
	ln, err := loopback.Listen(n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for HTTP on %s: %w", n.cfg.HTTPAddr, err)
	}
	n.httpLn = netutil.LimitListener(ln, n.cfg.MaxConnections)
	n.httpSrv = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.httpSrv.Serve(n.httpLn)
	}()
	return nil
}

// ID is the node's raft server id.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr is the address peers dial to reach this node.
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

// HTTPAddr is the host:port of the HTTP API.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// URL is the base URL of the HTTP API.
func (n *Node) URL() string { return "http://" + n.HTTPAddr() }

// OpenReport says how the state file was found at start.
func (n *Node) OpenReport() OpenReport { return n.open }

// FSM gives read access to this replica's state machine.
func (n *Node) FSM() *FSM { return n.fsm }

// Bootstrap makes this node the first member of a cluster whose initial configuration is servers (which must
// include this node). It is a no-op error-free call when the node already has raft state.
func (n *Node) Bootstrap(servers []Server) error {
	has, err := raft.HasExistingState(n.logs, n.stable, n.snaps)
	if err != nil {
		return fmt.Errorf("bootstrap %s: read raft state: %w", n.cfg.ID, err)
	}
	if has {
		return nil
	}
	var conf raft.Configuration
	for _, s := range servers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.RaftAddr)})
	}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap %s: %w", n.cfg.ID, err)
	}
	return nil
}

// AddVoter adds a node to the cluster; call it on the leader.
func (n *Node) AddVoter(s Server, timeout time.Duration) error {
	if err := n.raft.AddVoter(raft.ServerID(s.ID), raft.ServerAddress(s.RaftAddr), 0, timeout).Error(); err != nil {
		return fmt.Errorf("add voter %s at %s: %w", s.ID, s.RaftAddr, translateRaftErr(err))
	}
	return nil
}

// RemoveServer removes a node from the cluster; call it on the leader.
func (n *Node) RemoveServer(id string, timeout time.Duration) error {
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error(); err != nil {
		return fmt.Errorf("remove server %s: %w", id, translateRaftErr(err))
	}
	return nil
}

// Servers lists the current raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), RaftAddr: string(s.Address)})
	}
	return out, nil
}

// NodeStatus is the node's view of the cluster, as served by GET /v1/status.
type NodeStatus struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastIndex    uint64 `json:"last_log_index"`
	// StateHash is filled only when asked for (it reads the whole state).
	StateHash string `json:"state_hash,omitempty"`
}

// Status reports the node's raft state.
func (n *Node) Status() NodeStatus {
	_, leader := n.raft.LeaderWithID()
	return NodeStatus{
		ID:           n.cfg.ID,
		State:        n.raft.State().String(),
		Leader:       string(leader),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.fsm.AppliedIndex(),
		LastIndex:    n.raft.LastIndex(),
	}
}

// IsLeader reports whether this node is the leader and ready to serve linearizable reads.
func (n *Node) IsLeader() bool {
	return n.raft.State() == raft.Leader && n.leaderReady.Load()
}

// TransferLeadership asks this node, the leader, to hand leadership to the server id at address (raft's
// LeadershipTransferToServer, from the thesis' §3.10: the target is brought up to date, then told to
// start an election at once). It returns when the transfer finished or failed; raft.ErrNotLeader when
// this node does not lead.
func (n *Node) TransferLeadership(id, address string) error {
	if err := n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(address)).Error(); err != nil {
		return fmt.Errorf("transfer leadership from %s to %s: %w", n.cfg.ID, id, err)
	}
	return nil
}

// Term is the raft term this node is in.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// LeaderID is the id of the node this node believes leads, or "".
func (n *Node) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// watchLeadership marks the node ready for linearizable reads once, as a new leader, it has applied a
// barrier: only then does its commit index cover everything earlier leaders committed.
func (n *Node) watchLeadership(notify <-chan bool) {
	for {
		select {
		case <-n.stopCh:
			return
		case isLeader := <-notify:
			n.leaderReady.Store(false)
			n.met.leaderChanges.Inc()
			if isLeader {
				n.awaitReady()
			}
		}
	}
}

// awaitReady applies a barrier as the new leader and marks the node ready. Raft's timeout bounds only the
// barrier's enqueueing, so an attempt fails when the leader loop is busy (a flood of queued writes right
// after an election, a starved process); it is retried for as long as this node leads. Giving up after one
// attempt left a leader that committed writes but refused every linearizable read, and that the lab and
// the benchmarks saw as "no leader" until the next election.
func (n *Node) awaitReady() {
	for attempt := 1; n.raft.State() == raft.Leader; attempt++ {
		err := n.raft.Barrier(n.cfg.ElectionTimeout).Error()
		switch {
		case err == nil:
			if n.raft.State() == raft.Leader {
				n.leaderReady.Store(true)
			}
			return
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrRaftShutdown):
			return
		}
		n.logger.Warn("new leader not ready for linearizable reads yet: barrier failed, retrying", "attempt", attempt, "error", err)
		select {
		case <-n.stopCh:
			return
		default:
		}
	}
}

// translateRaftErr maps raft's errors onto the ledger's sentinels, keeping the original in the chain.
func translateRaftErr(err error) error {
	switch {
	// Refused before the entry was appended, so certainly not applied: ErrNotLeader (retry elsewhere).
	// raft's leader loop answers ErrLeadershipTransferInProgress to a new apply while it hands leadership
	// over, without dispatching the entry (raft.go, leaderLoop: "case newLog := <-r.applyCh").
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w (%w)", ErrNotLeader, err)
	// Appended, then leadership was lost before commit was known: it may yet commit.
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %w", errOutcomeUnknown, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// errOutcomeUnknown means the write may or may not have committed: leadership was lost after it was appended.
// A retry with the same idempotency key settles it.
var errOutcomeUnknown = errors.New("outcome unknown")

// IsOutcomeUnknown reports whether err leaves a write's outcome open (leadership lost, timeout).
func IsOutcomeUnknown(err error) bool {
	return errors.Is(err, errOutcomeUnknown) || errors.Is(err, context.DeadlineExceeded)
}

// apply sends one encoded command through raft and returns the state machine's response.
func (n *Node) apply(ctx context.Context, data []byte) (any, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		return nil, translateRaftErr(err)
	}
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// Transfer submits one transfer through group commit and waits for its result.
func (n *Node) Transfer(ctx context.Context, t Transfer) (TransferResult, error) {
	if err := t.Validate(); err != nil {
		return TransferResult{}, err
	}
	return n.commit.submit(ctx, t)
}

// TransferBatch applies up to MaxBatch transfers as one raft entry; results are in request order.
func (n *Node) TransferBatch(ctx context.Context, ts []Transfer) ([]TransferResult, error) {
	if len(ts) == 0 || len(ts) > MaxBatch {
		return nil, fmt.Errorf("%w: a batch holds 1..%d transfers, got %d", ErrInvalid, MaxBatch, len(ts))
	}
	for i := range ts {
		if err := ts[i].Validate(); err != nil {
			return nil, fmt.Errorf("transfer %d: %w", i, err)
		}
	}
	if len(ts) <= n.cfg.GroupCommitMax {
		return n.commit.submitMany(ctx, ts) // small batches share raft entries with single transfers
	}
	resp, err := n.apply(ctx, encodeTransfers(ts))
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*TransfersResponse)
	if !ok || len(r.Results) != len(ts) {
		return nil, fmt.Errorf("transfer batch: unexpected state machine response %T", resp)
	}
	return r.Results, nil
}

// CreateAccounts creates up to MaxBatch accounts as one raft entry; existing ids are left unchanged.
func (n *Node) CreateAccounts(ctx context.Context, as []Account) ([]AccountResult, error) {
	if len(as) == 0 || len(as) > MaxBatch {
		return nil, fmt.Errorf("%w: a batch holds 1..%d accounts, got %d", ErrInvalid, MaxBatch, len(as))
	}
	for i := range as {
		if err := as[i].Validate(); err != nil {
			return nil, fmt.Errorf("account %d: %w", i, err)
		}
	}
	resp, err := n.apply(ctx, encodeAccounts(as))
	if err != nil {
		return nil, err
	}
	r, ok := resp.([]AccountResult)
	if !ok || len(r) != len(as) {
		return nil, fmt.Errorf("create accounts: unexpected state machine response %T", resp)
	}
	return r, nil
}

// WriteBalance applies a blind balance write (the naive lock mode's read-check-write).
func (n *Node) WriteBalance(ctx context.Context, w BalanceWrite) (BalanceWriteResult, error) {
	if err := w.Validate(); err != nil {
		return BalanceWriteResult{}, err
	}
	resp, err := n.apply(ctx, encodeBalanceWrite(w))
	if err != nil {
		return BalanceWriteResult{}, err
	}
	r, ok := resp.(BalanceWriteResult)
	if !ok {
		return BalanceWriteResult{}, fmt.Errorf("write balance: unexpected state machine response %T", resp)
	}
	return r, nil
}

// Account reads an account. A linearizable read (stale=false) is served only by a ready leader: it confirms
// leadership with a quorum after noting the commit index, then waits until that index is applied.
func (n *Node) Account(ctx context.Context, id string, stale bool) (AccountState, error) {
	if !stale {
		if err := n.ReadBarrier(ctx); err != nil {
			return AccountState{}, err
		}
	}
	return n.fsm.Account(id)
}

// ReadBarrier returns once this node's state reflects every write committed before the call, or an error
// (ErrNotLeader when another node must serve the read).
func (n *Node) ReadBarrier(ctx context.Context) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	idx := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return translateRaftErr(err)
	}
	target, err := n.lastFSMEntry(idx)
	if err != nil {
		return err
	}
	if !n.fsm.WaitApplied(ctx.Done(), target) {
		return fmt.Errorf("wait for index %d: %w", target, ctx.Err())
	}
	return nil
}

// CaughtUp reports whether this replica's state machine holds every entry its raft log has committed
// (entries raft keeps to itself, such as a new leader's no-op, do not count).
func (n *Node) CaughtUp() (bool, error) {
	target, err := n.lastFSMEntry(n.raft.CommitIndex())
	if err != nil {
		return false, err
	}
	return n.fsm.AppliedIndex() >= target, nil
}

// lastFSMEntry is the highest index ≤ idx whose entry reaches the state machine. Raft never hands its
// no-op and barrier entries to the FSM, so a commit index that ends on one (a new leader's first entry)
// would never show up as applied; the read waits for the last entry the FSM does see instead.
func (n *Node) lastFSMEntry(idx uint64) (uint64, error) {
	applied := n.fsm.AppliedIndex()
	for i := idx; i > applied; i-- {
		var l raft.Log
		if err := n.cached.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return i, nil // compacted into a snapshot: the FSM holds it once it catches up to i
			}
			return 0, fmt.Errorf("read log entry %d: %w", i, err)
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i, nil
		}
	}
	return applied, nil
}

// nodeFSM is the state machine as raft sees it: the FSM, with its snapshots counted and a restore after
// start reported as an install from the leader.
type nodeFSM struct {
	*FSM
	n *Node
}

// Snapshot counts the snapshot and opens it (FSM.Snapshot).
func (f nodeFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.FSM.Snapshot()
	if err == nil {
		f.n.met.snapshots.WithLabelValues("taken").Inc()
	}
	return s, err
}

// Restore replaces the state (FSM.Restore). Raft restores a local snapshot only inside NewRaft; any later
// restore is a snapshot the leader sent because this node was behind its log.
func (f nodeFSM) Restore(rc io.ReadCloser) error {
	if err := f.FSM.Restore(rc); err != nil {
		return err
	}
	if f.n.raftStarted.Load() {
		f.n.installs.Add(1)
		f.n.met.snapshots.WithLabelValues("installed").Inc()
		if cb := f.n.cfg.OnSnapshotInstalled; cb != nil {
			cb(f.FSM.AppliedIndex())
		}
	}
	return nil
}

// SnapshotsInstalled is how many snapshots from the leader this node has installed since it started.
func (n *Node) SnapshotsInstalled() uint64 { return n.installs.Load() }

// GroupCommitEntries is how many raft entries group commit has sent since the node started.
func (n *Node) GroupCommitEntries() uint64 { return n.commit.entries.Load() }

// Snapshot asks raft for a snapshot now (tests and operators; raft also snapshots by itself).
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("snapshot %s: %w", n.cfg.ID, err)
	}
	return nil
}

// Close stops the node cleanly: HTTP, group commit, raft, then the stores; the state file is marked clean.
func (n *Node) Close() error { return n.shutdown(true) }

// Crash stops the node as abruptly as one process can: no leadership transfer, no clean-shutdown marker,
// connections dropped. The next Start treats the state file as suspect.
func (n *Node) Crash() error { return n.shutdown(false) }

func (n *Node) shutdown(clean bool) error {
	n.stopOnce.Do(func() {
		var errs []error
		if n.httpSrv != nil {
			if clean {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = n.httpSrv.Shutdown(ctx)
				cancel()
			}
			n.httpSrv.Close()
		}
		close(n.stopCh)
		n.commit.close()
		if n.watchDone != nil {
			<-n.watchDone // its barrier settles while raft runs (see watchDone)
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shut down raft: %w", err))
		}
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", err))
		}
		n.wg.Wait()
		if err := n.fsm.Close(clean); err != nil {
			errs = append(errs, err)
		}
		if err := n.logs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log: %w", err))
		}
		if err := n.stable.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft stable store: %w", err))
		}
		if len(errs) > 0 {
			n.stopErr = fmt.Errorf("stop node %s: %w", n.cfg.ID, errors.Join(errs...))
		}
	})
	return n.stopErr
}
