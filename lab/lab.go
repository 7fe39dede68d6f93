package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/nodes/gateway"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/cluster"
	"paylab/nodes/redisnode"
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

	// ledgerIDs are the ledger nodes' placements in topology order (fixed once built); cluster runs them.
	ledgerIDs []regions.NodeID
	cluster   cluster.Cluster

	mu     sync.Mutex
	events []results.Event
	notes  []string

	gateways []*gatewayNode
	redis    map[string]*redisnode.Server // per region, when a gateway mechanism uses Redis
	direct   map[string]*redis.Client     // per region, a client straight to its Redis (Redis; faults)
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

// maxEvents bounds the events a lab keeps.
const maxEvents = 10_000

// Build starts every part of the scenario's system and waits until the ledger has a leader and the accounts
// exist. On error everything already started is stopped.
func Build(ctx context.Context, s *scenarios.Scenario, opts Options) (_ *Lab, err error) {
	if opts.Dir == "" {
		return nil, errors.New("lab: Options.Dir is required")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	l := &Lab{s: s, opts: opts, t0: time.Now(), watchStop: make(chan struct{}), watchDone: make(chan struct{})}
	defer func() {
		if err != nil {
			l.Close() // l, not the result (nil on error): a failed build stops what it started
		}
	}()
	l.nw, err = regions.NewNetwork(ctx, s.Topology, regions.NetworkOptions{ToxiproxyURL: opts.ToxiproxyURL})
	if err != nil {
		return nil, fmt.Errorf("build network: %w", err)
	}
	l.logf("network: toxiproxy at %s, %d regions", l.nw.ToxiproxyAddr(), len(s.Topology.Regions))
	if err := l.startRedis(ctx); err != nil {
		return nil, err
	}
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
		crash = func() error { return l.crashLedger(ctx, id) }
	case regions.KindGateway:
		crash = func() error { return l.crashGateway(id) }
	case regions.KindRedis:
		crash = func() error { return l.crashRedis(n.Placement.Region, id) }
	default:
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
		err = l.restartLedger(ctx, id)
	case regions.KindGateway:
		err = l.restartGateway(id)
	case regions.KindRedis:
		err = l.restartRedis(ctx, n.Placement.Region, id)
	default:
		return fmt.Errorf("restart %s: the lab runs no %s process", id, n.Kind)
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
// order: the ledger nodes, then every region's gateways, then every region's Redis the lab started (not an
// external one, which is not the lab's to stop).
func (l *Lab) Nodes() []regions.NodeID {
	out := l.LedgerNodes()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, g := range l.gateways {
		out = append(out, g.id)
	}
	for _, r := range l.s.Topology.Regions {
		if srv, ok := l.redis[r.Name]; ok && srv.Kind() != redisnode.KindExternal {
			n, _ := l.s.Topology.RedisNode(r.Name)
			out = append(out, n.ID)
		}
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
			if g.rdb != nil {
				_ = g.rdb.Close()
			}
		}
		l.closeRedis()
		if l.dns != nil {
			if err := l.dns.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if l.watching {
			<-l.watchDone
		}
		if l.cluster != nil {
			if err := l.cluster.Close(); err != nil {
				errs = append(errs, err)
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
	for _, id := range l.ledgerIDs {
		na := NodeAddr{ID: string(id), Name: LedgerName(id), URL: l.httpURL(id)}
		if l.cluster != nil {
			na.Raft, _ = l.cluster.RaftAddr(na.Name) // "" while the node is down
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

// firstGatewayURL is the first gateway's id and base URL, or empty strings.
func (l *Lab) firstGatewayURL() [2]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.gateways) == 0 {
		return [2]string{}
	}
	return [2]string{string(l.gateways[0].id), "http://" + l.gateways[0].cfg.Addr}
}
