package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/hashicorp/raft"
	"github.com/redis/go-redis/v9"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/cluster"
	"paylab/nodes/ledger/ledgertest"
	"paylab/nodes/redisnode"
	"paylab/regions"
	"paylab/results"
)

// The test lab: a real regions.Network (embedded toxiproxy), the lab DNS,
// and a three-node durable ledger cluster whose raft traffic crosses the
// network's proxies. It implements Env the way lab.Lab will.

// Raft timeouts of the test lab: tens of milliseconds, so failovers take a
// fraction of a second, with a lease long enough that a 40 ms round trip
// (the latency test) does not depose a healthy leader.
const (
	testHeartbeat = 80 * time.Millisecond
	testElection  = 250 * time.Millisecond
	testLease     = 80 * time.Millisecond
)

// labTopology puts each ledger node in its own region, so a region's
// latency puts a leader's two followers far away: us-east (zones a, b),
// eu-west (a) and ap-south (a), 1 ms between zones and 2 ms between regions.
func labTopology() regions.Topology {
	topo := regions.DefaultTopology()
	topo.Regions = []regions.Region{
		{Name: "us-east", Zones: []string{"a", "b"}},
		{Name: "eu-west", Zones: []string{"a"}},
		{Name: "ap-south", Zones: []string{"a"}},
	}
	topo.Ledger.Nodes = []regions.Placement{{Region: "us-east", Zone: "a"}, {Region: "eu-west", Zone: "a"}, {Region: "ap-south", Zone: "a"}}
	topo.Latency = regions.Latency{Zone: time.Millisecond, Region: 2 * time.Millisecond}
	topo.Ledger.HeartbeatTimeout, topo.Ledger.ElectionTimeout = testHeartbeat, testElection
	return topo
}

// clientsPerRegion is how many resolvers stand for a region's clients.
const clientsPerRegion = 4

type testLab struct {
	topo    regions.Topology
	nw      *regions.Network
	dns     *regions.DNSServer
	cluster *ledgertest.Cluster
	ids     []regions.NodeID // ledger node i of the cluster is ids[i]
	start   time.Time

	mu        sync.Mutex
	events    []results.Event
	resolvers map[string][]*regions.Resolver
	stale     map[string]float64
	redis     map[string]*redisnode.Server // per region, when startRedis ran (redis_test.go)
	direct    map[string]*redis.Client
}

var _ Env = (*testLab)(nil)

func startTestLab(t testing.TB) *testLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	l := &testLab{topo: labTopology(), start: time.Now(), resolvers: map[string][]*regions.Resolver{}, stale: map[string]float64{}}
	var err error
	if l.nw, err = regions.NewNetwork(ctx, l.topo, regions.NetworkOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.nw.Close(); err != nil {
			t.Errorf("close network: %v", err)
		}
	})
	for _, n := range l.topo.LedgerNodes() {
		l.ids = append(l.ids, n.ID)
	}
	if l.dns, err = regions.StartDNS(regions.DNSConfigFor(l.topo, 1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.dns.Close(); err != nil {
			t.Errorf("close dns: %v", err)
		}
	})
	for _, r := range l.topo.Regions {
		for range clientsPerRegion {
			res, err := regions.NewResolver(regions.ResolverOptions{Server: l.dns.Addr()})
			if err != nil {
				t.Fatal(err)
			}
			l.resolvers[r.Name] = append(l.resolvers[r.Name], res)
		}
	}
	l.cluster, err = ledgertest.Start(ctx, ledgertest.Options{Nodes: len(l.ids), Configure: func(i int, c *ledger.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = testHeartbeat, testElection, testLease
		c.TransportTimeout = 500 * time.Millisecond // an RPC whose answer a one-way fault drops is retried soon
		c.ApplyTimeout = 2 * time.Second
		if os.Getenv("RAFTLOG") != "" {
			c.LogOutput, c.LogLevel = os.Stderr, os.Getenv("RAFTLOG")
		}
	}, Listen: func(i int) (raft.StreamLayer, error) {
		return l.nw.ListenRaft(l.ids[i]) // on its first start a free port, after a crash the same address again
	}, Wire: l.nw.Connect}) // the raft links' proxies, once every node listens
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.cluster.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	accounts := cluster.Accounts(64, 1<<40)
	if err := l.atLeader(ctx, func(n *ledger.Node) error { _, err := n.CreateAccounts(ctx, accounts); return err }); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *testLab) index(id regions.NodeID) (int, error) {
	i := slices.Index(l.ids, id)
	if i < 0 {
		return 0, fmt.Errorf("%s: %w", id, ErrNotRunning)
	}
	return i, nil
}

// Env.

func (l *testLab) Network() *regions.Network { return l.nw }
func (l *testLab) DNS() *regions.DNSServer   { return l.dns }
func (l *testLab) Elapsed() time.Duration    { return time.Since(l.start) }

// Nodes lists the ledger nodes, then each region's Redis the test started, in topology order.
func (l *testLab) Nodes() []regions.NodeID {
	out := slices.Clone(l.ids)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.topo.Regions {
		if _, ok := l.redis[r.Name]; ok {
			n, _ := l.topo.RedisNode(r.Name)
			out = append(out, n.ID)
		}
	}
	return out
}

// redisAt returns the Redis server node id stands for, if the test started it.
func (l *testLab) redisAt(id regions.NodeID) (*redisnode.Server, bool) {
	n, ok := l.topo.Node(id)
	if !ok || n.Kind != regions.KindRedis {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	srv, ok := l.redis[n.Placement.Region]
	return srv, ok
}

// CrashNode marks the node down in the network (its links refuse, as lab.Lab does) and crashes it.
func (l *testLab) CrashNode(ctx context.Context, id regions.NodeID) error {
	if srv, ok := l.redisAt(id); ok {
		if err := l.nw.NodeDown(ctx, id); err != nil {
			return err
		}
		return srv.Kill()
	}
	i, err := l.index(id)
	if err != nil {
		return err
	}
	if err := l.nw.NodeDown(ctx, id); err != nil {
		return err
	}
	return l.cluster.Local().Crash(ctx, l.cluster.ID(i))
}

// RestartNode starts the node again (a fresh raft layer on its address; Redis on its port, empty) and
// opens its links.
func (l *testLab) RestartNode(ctx context.Context, id regions.NodeID) error {
	if srv, ok := l.redisAt(id); ok {
		if err := srv.Restart(ctx); err != nil {
			return err
		}
		return l.nw.NodeUp(ctx, id)
	}
	i, err := l.index(id)
	if err != nil {
		return err
	}
	if err := l.cluster.Local().Restart(ctx, l.cluster.ID(i)); err != nil {
		return err
	}
	return l.nw.NodeUp(ctx, id)
}

// Redis returns a client straight to region's Redis, if the test started one.
func (l *testLab) Redis(region string) (*redis.Client, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	srv, ok := l.redis[region]
	if !ok {
		return nil, false, fmt.Errorf("region %q: %w", region, ErrNoRedis)
	}
	c, ok := l.direct[region]
	if !ok {
		c = srv.Client("")
		l.direct[region] = c
	}
	return c, false, nil
}

func (l *testLab) LeaderNode() (regions.NodeID, bool) {
	if l.cluster == nil {
		return "", false
	}
	i := l.cluster.LeaderIndex()
	if i < 0 {
		return "", false
	}
	return l.ids[i], true
}

func (l *testLab) SetClientsIgnoreTTL(region string, fraction float64) (float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs, ok := l.resolvers[region]
	if !ok {
		return 0, fmt.Errorf("no client region %q", region)
	}
	prev := l.stale[region]
	n := StaleClients(fraction, len(rs))
	for i, r := range rs {
		r.SetIgnoreTTL(i < n)
	}
	l.stale[region] = fraction
	return prev, nil
}

func (l *testLab) Record(e results.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// Helpers for the tests.

func (l *testLab) recorded() []results.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// atLeader runs f on the current leader, retrying while leadership moves.
func (l *testLab) atLeader(ctx context.Context, f func(n *ledger.Node) error) error {
	for {
		n, err := l.cluster.WaitLeader(ctx)
		if err != nil {
			return err
		}
		err = f(n)
		if err == nil || !errors.Is(err, ledger.ErrNotLeader) && !ledger.IsOutcomeUnknown(err) && !errors.Is(err, ledger.ErrClosed) || ctx.Err() != nil {
			return err
		}
	}
}

// transfer commits one transfer at the leader (retrying while leadership
// moves, same id) and returns how long the committing attempt took.
func (l *testLab) transfer(ctx context.Context, id string) (time.Duration, error) {
	_, took, err := l.transferResult(ctx, id)
	return took, err
}

// transferResult is transfer that also returns the result (with the log
// index that decided the transfer).
func (l *testLab) transferResult(ctx context.Context, id string) (ledger.TransferResult, time.Duration, error) {
	var took time.Duration
	var res ledger.TransferResult
	err := l.atLeader(ctx, func(n *ledger.Node) error {
		start := time.Now()
		r, err := n.Transfer(ctx, ledger.Transfer{ID: id, From: "acc-0", To: "acc-1", Amount: 1})
		took, res = time.Since(start), r
		if err == nil && r.Status != ledger.StatusCommitted {
			err = fmt.Errorf("transfer %s: %s %s", id, r.Status, r.Reason)
		}
		return err
	})
	return res, took, err
}

// converged commits a marker transfer and waits until every live node has
// applied it and all hold the same state. The marker matters: after an
// election the leader's commit index ends on raft's own entries (the new
// term's no-op, the ledger's barrier), which no state machine applies, so
// ledgertest.WaitConverged waits for the next command.
func (l *testLab) converged(t testing.TB, ctx context.Context) ledger.StateSummary {
	t.Helper()
	if _, err := l.transfer(ctx, fmt.Sprintf("marker-%d", time.Now().UnixNano())); err != nil {
		t.Fatalf("the lab cannot commit: %v", err)
	}
	sum, err := l.cluster.WaitConverged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// healthy waits until every node is up, one leads, and all hold the same
// state; each test leaves the lab this way for the next.
func (l *testLab) healthy(t testing.TB) ledger.StateSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	if got := len(l.cluster.Live()); got != len(l.ids) {
		t.Fatalf("%d of %d ledger nodes are up", got, len(l.ids))
	}
	return l.converged(t, ctx)
}

// toxics lists every toxic on every proxy, read back from toxiproxy itself,
// plus whether each proxy is enabled: the network's whole fault state.
func (l *testLab) toxics(t testing.TB) []string {
	t.Helper()
	c := toxiclient.NewClient("http://" + l.nw.ToxiproxyAddr())
	proxies, err := c.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for name, p := range proxies {
		out = append(out, fmt.Sprintf("%s enabled=%v", name, p.Enabled))
		ts, err := p.Toxics()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ts {
			keys := make([]string, 0, len(x.Attributes))
			for k, v := range x.Attributes {
				keys = append(keys, fmt.Sprintf("%s=%v", k, v))
			}
			sort.Strings(keys)
			out = append(out, fmt.Sprintf("%s %s %s %s %.2f %s", name, x.Name, x.Type, x.Stream, x.Toxicity, strings.Join(keys, ",")))
		}
	}
	sort.Strings(out)
	return out
}

// patience bounds every wait for something that must happen (an election, a
// commit, a node catching up). It is generous on purpose: on a busy machine
// an election can take seconds, and a test must fail only when the thing
// never happens, not when the machine is slow.
const patience = 30 * time.Second

// waitFor polls cond every 5 ms until it holds or wait passes.
func waitFor(ctx context.Context, wait time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func mustNew(t testing.TB, topo regions.Topology, kind, target string, params map[string]any) Fault {
	t.Helper()
	k, ok := Lookup(kind)
	if !ok {
		t.Fatalf("no fault %q", kind)
	}
	f, err := k.New(topo, target, params)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
