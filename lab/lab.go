package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"paylab/nodes/gateway"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/regions"
	"paylab/results"
	"paylab/scenarios"
)

// Options configure how a lab is built, beyond the scenario.
type Options struct {
	// Dir is where node files go (the run directory's nodes/); required.
	Dir string
	// ToxiproxyURL drives an external toxiproxy-server instead of the embedded one.
	ToxiproxyURL string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// RaftLog receives raft's own warnings; nil discards them.
	RaftLog io.Writer
}

// Lab is one running system under test. Its methods are safe for concurrent use.
type Lab struct {
	s    *scenarios.Scenario
	opts Options
	nw   *regions.Network
	t0   time.Time // events are recorded as offsets from it (set by SetEpoch)

	mu      sync.Mutex
	closing bool // Close has begun: a restart finishing now stops what it started
	ledgers []*ledgerNode
	events  []results.Event
	notes   []string

	gateways []*gatewayNode
	dns      *regions.DNSServer
	health   *regions.HealthChecker
	signer   *gateway.Signer
	signKey  []byte
	groups   map[string][]*clientGroup // per client region
	// staleFraction is, per client region, the share of client populations ignoring DNS TTLs.
	staleFraction map[string]float64
	ctl           *client.Client // control plane: straight to the nodes, never through the proxies

	watching  bool
	watchStop chan struct{}
	watchDone chan struct{}
	closeOnce sync.Once
	closeErr  error
	bg        sync.WaitGroup // short-lived goroutines recording events on behalf of raft's callbacks
}

// ledgerNode is one ledger replica and what is needed to restart it.
type ledgerNode struct {
	id   regions.NodeID
	name string // raft/ledger id: "us-east-a"
	cfg  ledger.Config
	node *ledger.Node // nil while down
	// starting: a restart is under way outside the lab's lock (ledger.Start replays the log and can take a
	// while; holding l.mu across it stalled the progress line, the leader watcher and event recording).
	starting bool
}

// maxEvents bounds the events a lab keeps.
const maxEvents = 10_000

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

// Build starts every part of the scenario's system and waits until the ledger has a leader and the accounts
// exist. On error everything already started is stopped.
func Build(ctx context.Context, s *scenarios.Scenario, opts Options) (l *Lab, err error) {
	if opts.Dir == "" {
		return nil, errors.New("lab: Options.Dir is required")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	l = &Lab{s: s, opts: opts, t0: time.Now(), watchStop: make(chan struct{}), watchDone: make(chan struct{})}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	l.nw, err = regions.NewNetwork(ctx, s.Topology, regions.NetworkOptions{ToxiproxyURL: opts.ToxiproxyURL})
	if err != nil {
		return nil, fmt.Errorf("build network: %w", err)
	}
	l.logf("network: toxiproxy at %s, %d regions", l.nw.ToxiproxyAddr(), len(s.Topology.Regions))
	if err := l.startLedger(ctx); err != nil {
		return nil, err
	}
	l.watching = true
	go l.watchLeader()
	if err := l.seedAccounts(ctx); err != nil {
		return nil, err
	}
	if err := l.startGateways(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) logf(format string, args ...any) {
	fmt.Fprintf(l.opts.Log, "  "+format+"\n", args...)
}

// Network is the lab's simulated network.
func (l *Lab) Network() *regions.Network { return l.nw }

// Scenario is the scenario the lab was built from.
func (l *Lab) Scenario() *scenarios.Scenario { return l.s }

// Control is the lab's own client to the ledger: straight to each node's API, not through the simulated
// network, so faults never blind the lab itself.
func (l *Lab) Control() *client.Client { return l.ctl }

func (l *Lab) startLedger(ctx context.Context) error {
	topo := l.s.Topology
	var servers []ledger.Server
	urls := map[string]string{}
	for _, n := range topo.LedgerNodes() {
		layer, err := l.nw.ListenRaft(n.ID)
		if err != nil {
			return fmt.Errorf("start ledger %s: %w", n.ID, err)
		}
		cfg := ledger.DefaultConfig()
		cfg.ID = LedgerName(n.ID)
		cfg.Dir = filepath.Join(l.opts.Dir, cfg.ID)
		cfg.StreamLayer = layer
		applyLedgerSettings(&cfg, l.s)
		cfg.GroupCommitInterval = labGroupCommitInterval
		cfg.LogOutput = l.opts.RaftLog
		placed := n.ID
		cfg.OnSnapshotInstalled = func(index uint64) {
			// On raft's FSM goroutine, which must not wait for the lab's lock: the event is recorded by a
			// goroutine the lab owns (Close waits for it).
			now := time.Now()
			l.bg.Go(func() {
				l.Record(results.Event{At: l.Since(now), Kind: results.EventNote, Name: "snapshot-installed", Target: string(placed),
					Detail: fmt.Sprintf("caught up from the leader's snapshot at index %d", index)})
			})
		}
		node, err := ledger.Start(cfg)
		if err != nil {
			layer.Close()
			return fmt.Errorf("start ledger %s: %w", n.ID, err)
		}
		cfg.HTTPAddr = node.HTTPAddr() // a restart comes back on the same port
		cfg.StreamLayer = nil
		l.mu.Lock()
		l.ledgers = append(l.ledgers, &ledgerNode{id: n.ID, name: cfg.ID, cfg: cfg, node: node})
		l.mu.Unlock()
		servers = append(servers, ledger.Server{ID: cfg.ID, RaftAddr: node.RaftAddr()})
		urls[cfg.ID] = node.URL()
		if err := l.nw.RegisterFor(n.ID, regions.KindGateway, node.HTTPAddr()); err != nil {
			return err
		}
	}
	if err := l.nw.Connect(ctx); err != nil {
		return fmt.Errorf("connect the ledger's links: %w", err)
	}
	for _, ln := range l.ledgers {
		if err := ln.node.Bootstrap(servers); err != nil {
			return err
		}
	}
	ccfg := client.DefaultConfig(urls)
	ccfg.Deadline = 30 * time.Second
	var err error
	if l.ctl, err = client.New(ccfg); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	leader, err := l.waitLeader(wctx)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if il := topo.Ledger.InitialLeader; il != nil && leader != regions.LedgerID(*il) {
		if leader, err = l.pinLeader(wctx, leader, regions.LedgerID(*il)); err != nil {
			return fmt.Errorf("ledger: initial leader %s: %w", *il, err)
		}
	}
	l.logf("ledger: %d nodes, leader %s (heartbeat %v, election %v)", len(l.ledgers), leader, l.ledgers[0].cfg.HeartbeatTimeout, l.ledgers[0].cfg.ElectionTimeout)
	return nil
}

// pinLeader hands leadership from the current leader to want (raft's leadership transfer), retrying a
// bounded number of times (a transfer can lose to a concurrent election), and returns the leader after.
func (l *Lab) pinLeader(ctx context.Context, leader, want regions.NodeID) (regions.NodeID, error) {
	var errs []error
	for range pinLeaderAttempts {
		l.mu.Lock()
		from, _ := l.ledger(leader)
		to, err := l.ledger(want)
		l.mu.Unlock()
		if err != nil {
			return leader, err
		}
		if from != nil && from.node != nil && to.node != nil {
			if err := from.node.TransferLeadership(to.cfg.ID, to.node.RaftAddr()); err != nil {
				errs = append(errs, err)
			}
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
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, ok := l.LeaderNode(); ok {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no leader elected: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (l *Lab) seedAccounts(ctx context.Context) error {
	as := make([]ledger.Account, l.s.Accounts.Count)
	for i := range as {
		as[i] = ledger.Account{ID: fmt.Sprintf("acc-%d", i), Balance: l.s.Accounts.Balance}
	}
	if err := l.ctl.CreateAccounts(ctx, as); err != nil {
		return fmt.Errorf("seed %d accounts: %w", len(as), err)
	}
	l.logf("accounts: %d × %d", len(as), l.s.Accounts.Balance)
	return nil
}

// LedgerNodes lists the ledger nodes in topology order.
func (l *Lab) LedgerNodes() []regions.NodeID {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]regions.NodeID, len(l.ledgers))
	for i, n := range l.ledgers {
		out[i] = n.id
	}
	return out
}

// LeaderNode is the placement of the ready ledger leader, if any.
func (l *Lab) LeaderNode() (regions.NodeID, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.leaderLocked(); n != nil {
		return n.id, true
	}
	return "", false
}

// leaderTerm is the ready leader and its raft term, or "" and 0.
func (l *Lab) leaderTerm() (regions.NodeID, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.leaderLocked(); n != nil {
		return n.id, n.node.Term()
	}
	return "", 0
}

// leaderLocked is the live ledger node that is the ready leader, or nil. Call with l.mu held.
func (l *Lab) leaderLocked() *ledgerNode {
	for _, n := range l.ledgers {
		if n.node != nil && n.node.IsLeader() {
			return n
		}
	}
	return nil
}

func (l *Lab) ledger(id regions.NodeID) (*ledgerNode, error) {
	for _, n := range l.ledgers {
		if n.id == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no ledger node %s", id)
}

// CrashNode stops a node abruptly, as a killed process: a ledger node with no leadership transfer and no
// clean-shutdown marker, a gateway with its connections and requests in flight cut (gateway.Crash). Before
// the process goes, the network marks it down (regions.Network.NodeDown): every link towards it refuses new
// connections, as its port would, and when it is the last gateway of its region that was up, the region's
// entry point stops accepting too, which the lab records as an event ("entry" down) and the DNS health
// checker then sees.
func (l *Lab) CrashNode(ctx context.Context, id regions.NodeID) error {
	n, ok := l.s.Topology.Node(id)
	if !ok {
		return fmt.Errorf("crash %s: %w", id, regions.ErrUnknownNode)
	}
	var crash func() error
	switch n.Kind {
	case regions.KindLedger:
		crash = func() error { return l.crashLedger(id) }
	case regions.KindGateway:
		crash = func() error { return l.crashGateway(id) }
	default:
		// The seam for Redis (next issue): once the lab runs a region's Redis as a process, Nodes lists it,
		// a case here crashes it and one in RestartNode restarts it; zone-down then takes it down with its
		// zone (it picks every node Nodes lists by placement) and the network refuses its links.
		return fmt.Errorf("crash %s: the lab runs no %s process", id, n.Kind)
	}
	region := n.Placement.Region
	entryWas := l.nw.EntryServing(region)
	if err := l.nw.NodeDown(ctx, id); err != nil {
		return fmt.Errorf("crash %s: %w", id, errors.Join(err, l.nw.NodeUp(context.WithoutCancel(ctx), id)))
	}
	if err := crash(); err != nil {
		if errors.Is(err, errAlreadyDown) {
			return err // down it is, and its links stay refused
		}
		return errors.Join(err, l.nw.NodeUp(context.WithoutCancel(ctx), id))
	}
	l.noteEntry(region, entryWas)
	return nil
}

// RestartNode starts a crashed node again from its own files (a ledger node) or configuration (a gateway),
// on the same addresses, then opens its links (regions.Network.NodeUp) and, for a region's first gateway
// back, its entry point. A node whose process is up but whose links are still marked down (a restart that
// failed half-way) only gets its links opened.
func (l *Lab) RestartNode(ctx context.Context, id regions.NodeID) error {
	n, ok := l.s.Topology.Node(id)
	if !ok {
		return fmt.Errorf("restart %s: %w", id, regions.ErrUnknownNode)
	}
	var err error
	switch n.Kind {
	case regions.KindLedger:
		err = l.restartLedger(id)
	case regions.KindGateway:
		err = l.restartGateway(id)
	default:
		return fmt.Errorf("restart %s: the lab runs no %s process", id, n.Kind) // Redis: see CrashNode
	}
	if errors.Is(err, errAlreadyUp) && l.nw.IsDown(id) {
		err = nil
	}
	if err != nil {
		return err
	}
	region := n.Placement.Region
	entryWas := l.nw.EntryServing(region)
	if err := l.nw.NodeUp(ctx, id); err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	l.noteEntry(region, entryWas)
	return nil
}

// Errors of CrashNode and RestartNode on a node already in the state asked for.
var (
	errAlreadyUp   = errors.New("already up")
	errAlreadyDown = errors.New("already down")
)

// noteEntry records an event when a region's entry point changed state since was.
func (l *Lab) noteEntry(region string, was bool) {
	now := l.nw.EntryServing(region)
	if now == was {
		return
	}
	detail := "down: no gateway of the region is up, connections refused"
	if now {
		detail = "up: a gateway of the region serves again"
	}
	l.Record(results.Event{At: l.Since(time.Now()), Kind: results.EventNote, Name: "entry", Target: region, Detail: detail})
}

func (l *Lab) crashLedger(id regions.NodeID) error {
	l.mu.Lock()
	n, err := l.ledger(id)
	var node *ledger.Node
	if err == nil {
		node, n.node = n.node, nil
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if node == nil {
		return fmt.Errorf("crash %s: %w", id, errAlreadyDown)
	}
	return node.Crash()
}

// restartLedger starts a crashed ledger node again. The lab's lock is held only to claim the node (starting)
// and to install it, not across ledger.Start.
func (l *Lab) restartLedger(id regions.NodeID) error {
	l.mu.Lock()
	n, err := l.ledger(id)
	switch {
	case err != nil:
	case l.closing:
		err = fmt.Errorf("restart %s: the lab is closing", id)
	case n.node != nil || n.starting:
		err = fmt.Errorf("restart %s: %w", id, errAlreadyUp)
	default:
		n.starting = true
	}
	cfg := n.cfg
	l.mu.Unlock()
	if err != nil {
		return err
	}
	node, err := l.startLedgerAgain(id, cfg)
	l.mu.Lock()
	defer l.mu.Unlock()
	n.starting = false
	if err != nil {
		return err
	}
	if l.closing {
		return errors.Join(fmt.Errorf("restart %s: the lab closed meanwhile", id), node.Close())
	}
	n.node = node
	return nil
}

// startLedgerAgain listens on the node's raft address again and starts it from its own files.
func (l *Lab) startLedgerAgain(id regions.NodeID, cfg ledger.Config) (*ledger.Node, error) {
	layer, err := l.nw.ListenRaft(id)
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	cfg.StreamLayer = layer
	node, err := ledger.Start(cfg)
	if err != nil {
		layer.Close()
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	return node, nil
}

func (l *Lab) gateway(id regions.NodeID) (*gatewayNode, error) {
	for _, g := range l.gateways {
		if g.id == id {
			return g, nil
		}
	}
	return nil, fmt.Errorf("no gateway %s", id)
}

func (l *Lab) crashGateway(id regions.NodeID) error {
	l.mu.Lock()
	g, err := l.gateway(id)
	var gw *gateway.Gateway
	if err == nil {
		gw, g.gw = g.gw, nil
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if gw == nil {
		return fmt.Errorf("crash %s: %w", id, errAlreadyDown)
	}
	return gw.Crash()
}

func (l *Lab) restartGateway(id regions.NodeID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, err := l.gateway(id)
	if err != nil {
		return err
	}
	if g.gw != nil {
		return fmt.Errorf("restart %s: %w", id, errAlreadyUp)
	}
	gw, err := gateway.Start(g.cfg)
	if err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	g.gw = gw
	return nil
}

// Record adds an event to the run's timeline (bounded; later events beyond the bound are dropped).
func (l *Lab) Record(e results.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) < maxEvents {
		l.events = append(l.events, e)
	}
}

// Nodes lists the nodes the lab runs as processes that faults may crash and restart, up or down, in topology
// order: the ledger nodes, then every region's gateways (Redis joins them when the lab runs it).
func (l *Lab) Nodes() []regions.NodeID {
	out := l.LedgerNodes()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.gateways {
		out = append(out, g.id)
	}
	return out
}

// Elapsed is the time since the lab's epoch (the start of the measured load).
func (l *Lab) Elapsed() time.Duration { return l.Since(time.Now()) }

// Since is the offset of t from the lab's epoch (the start of the measured load).
func (l *Lab) Since(t time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return t.Sub(l.t0)
}

// SetEpoch sets the time events are measured from, and moves the events recorded so far onto
// it (events before the new epoch, such as the first leader's election during the build, get
// negative offsets), so that every event of a run shares one time base.
func (l *Lab) SetEpoch(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	shift := l.t0.Sub(t)
	for i := range l.events {
		l.events[i].At += shift
		if l.events[i].Until != 0 {
			l.events[i].Until += shift
		}
	}
	l.t0 = t
}

// Events returns the events recorded so far, in order.
func (l *Lab) Events() []results.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]results.Event(nil), l.events...)
}

// watchLeader records a leader event whenever the ready leader changes (polling the in-process nodes).
func (l *Lab) watchLeader() {
	defer close(l.watchDone)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var last regions.NodeID
	var lastTerm uint64
	for {
		select {
		case <-l.watchStop:
			return
		case <-t.C:
		}
		id, term := l.leaderTerm()
		if id != last || term != lastTerm {
			name, detail := "none", ""
			if id != "" {
				name, detail = string(id), fmt.Sprintf("term %d", term)
			}
			l.Record(results.Event{At: l.Since(time.Now()), Kind: results.EventLeader, Name: "leader", Target: name, Detail: detail})
			last, lastTerm = id, term
		}
	}
}

// Close stops everything the lab started, in reverse order, and removes nothing from disk (the run
// directory keeps the node files until the caller deletes them).
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		var errs []error
		select {
		case <-l.watchStop:
		default:
			close(l.watchStop)
		}
		if l.ctl != nil {
			l.ctl.Close()
		}
		if l.health != nil {
			l.health.Close()
		}
		for _, gs := range l.groups {
			for _, g := range gs {
				g.cl.Close()
			}
		}
		l.mu.Lock()
		gws := l.gateways
		l.mu.Unlock()
		for _, g := range gws {
			l.mu.Lock()
			gw := g.gw
			g.gw = nil
			l.mu.Unlock()
			if gw != nil {
				if err := gw.Close(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if l.dns != nil {
			if err := l.dns.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		l.mu.Lock()
		nodes := l.ledgers
		l.mu.Unlock()
		if l.watching {
			<-l.watchDone
		}
		for _, n := range nodes {
			l.mu.Lock()
			node := n.node
			n.node = nil
			l.mu.Unlock()
			if node != nil {
				if err := node.Close(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if l.nw != nil {
			if err := l.nw.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		l.bg.Wait()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// removeDir deletes a directory tree the lab created; used for node files after a run.
func removeDir(dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	return os.RemoveAll(dir)
}

// Addresses is everything a person needs to poke a running lab with curl, dig and toxiproxy-cli.
type Addresses struct {
	Toxiproxy string
	DNS       string
	EntryPort int
	Entries   map[string]string // region → 127.0.1.N:port
	Ledgers   []NodeAddr
	Gateways  []NodeAddr
	Links     int
}

// NodeAddr is one node's addresses.
type NodeAddr struct {
	ID   string
	Name string
	URL  string
	Raft string
}

// Addresses lists the running lab's addresses.
func (l *Lab) Addresses() Addresses {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := Addresses{Toxiproxy: l.nw.ToxiproxyAddr(), EntryPort: l.nw.EntryPort(), Entries: map[string]string{}, Links: len(l.nw.Links())}
	if l.dns != nil {
		a.DNS = l.dns.Addr()
	}
	for _, r := range l.s.Topology.Regions {
		if e, ok := l.nw.EntryAddr(r.Name); ok {
			a.Entries[r.Name] = e
		}
	}
	for _, n := range l.ledgers {
		na := NodeAddr{ID: string(n.id), Name: n.name, URL: "http://" + n.cfg.HTTPAddr}
		if n.node != nil {
			na.Raft = n.node.RaftAddr()
		}
		a.Ledgers = append(a.Ledgers, na)
	}
	for _, g := range l.gateways {
		a.Gateways = append(a.Gateways, NodeAddr{ID: string(g.id), URL: "http://" + g.cfg.Addr})
	}
	return a
}

// SigningKeyHex is the per-run gateway signing key, for people signing requests by hand.
func (l *Lab) SigningKeyHex() string { return hex.EncodeToString(l.signKey) }

// httpURL is a ledger node's API base URL (the control plane's direct address).
func (l *Lab) httpURL(id regions.NodeID) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, err := l.ledger(id); err == nil {
		return "http://" + n.cfg.HTTPAddr
	}
	return ""
}

// firstGatewayURL is the first gateway's id and base URL, or empty strings.
func (l *Lab) firstGatewayURL() [2]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.gateways) == 0 {
		return [2]string{}
	}
	return [2]string{string(l.gateways[0].id), "http://" + l.gateways[0].cfg.Addr}
}
