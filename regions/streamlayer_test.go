package regions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// threeZones is one region with a ledger node in each of three zones, 1 ms
// apart.
func threeZones() Topology {
	topo := DefaultTopology()
	topo.Regions = []Region{{Name: "us-east", Zones: []string{"a", "b", "c"}}}
	topo.Ledger.Nodes = []Placement{{"us-east", "a"}, {"us-east", "b"}, {"us-east", "c"}}
	topo.Latency = Latency{Zone: time.Millisecond, Region: 20 * time.Millisecond}
	return topo
}

// ledgerMesh opens a stream layer per ledger node and connects the proxies
// between them.
func ledgerMesh(t *testing.T, nw *Network) map[NodeID]*StreamLayer {
	t.Helper()
	layers := map[NodeID]*StreamLayer{}
	for _, n := range nw.Topology().LedgerNodes() {
		s, err := nw.ListenRaft(n.ID)
		if err != nil {
			t.Fatal(err)
		}
		layers[n.ID] = s
	}
	if err := nw.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	return layers
}

func TestStreamLayerDialsThroughThePeersProxy(t *testing.T) {
	nw := newTestNetwork(t, threeZones(), NetworkOptions{})
	layers := ledgerMesh(t, nw)
	a, b := layers["ledger:us-east/a"], layers["ledger:us-east/b"]

	accepted := make(chan error, 1)
	go func() {
		c, err := b.Accept()
		if err == nil {
			_, err = io.Copy(c, c)
			c.Close()
		}
		accepted <- err
	}()
	c, err := a.Dial(b.ServerAddress(), patience)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := nw.Link(LinkID{From: a.Node(), To: b.Node()})
	if c.RemoteAddr().String() != l.Listen {
		t.Errorf("a dialled %s, want the a→b proxy at %s", c.RemoteAddr(), l.Listen)
	}
	if got := medianPing(t, c, 5); got < 2*time.Millisecond {
		t.Errorf("RTT a→b %v, want at least the 2 ms matrix round trip", got)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Errorf("b accept/echo: %v", err)
	}
	if _, err := a.Dial("127.0.0.1:1", time.Second); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Dial of an address that is no node = %v, want ErrUnknownNode", err)
	}
}

func TestListenRaftAfterACrashReusesTheNodesAddress(t *testing.T) {
	nw := newTestNetwork(t, threeZones(), NetworkOptions{})
	layers := ledgerMesh(t, nw)
	a, b := layers["ledger:us-east/a"], layers["ledger:us-east/b"]
	addr := b.ServerAddress()
	if err := b.Close(); err != nil { // b crashes
		t.Fatal(err)
	}
	b2, err := nw.ListenRaft(b.Node())
	if err != nil {
		t.Fatal(err)
	}
	if b2.ServerAddress() != addr {
		t.Fatalf("restarted b listens on %s, want its old address %s", b2.ServerAddress(), addr)
	}
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		if c, err := b2.Accept(); err == nil {
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := a.Dial(addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ping(c, patience); err != nil {
		t.Errorf("a cannot reach the restarted b through its proxy: %v", err)
	}
	c.Close()
	<-echoed
}

// counter is a minimal raft FSM: it counts applied entries.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Apply(*raft.Log) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (c *counter) Restore(io.ReadCloser) error         { return errors.New("no snapshots") }

type raftNode struct {
	id   NodeID
	raft *raft.Raft
	fsm  *counter
}

// startRaftCluster runs a hashicorp/raft cluster over the network's stream
// layers, with in-memory stores and timeouts of tens of milliseconds.
func startRaftCluster(t *testing.T, layers map[NodeID]*StreamLayer) map[NodeID]*raftNode {
	t.Helper()
	var servers []raft.Server
	for id, s := range layers {
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: s.ServerAddress()})
	}
	nodes := map[NodeID]*raftNode{}
	for id, s := range layers {
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(id)
		cfg.HeartbeatTimeout = 50 * time.Millisecond
		cfg.ElectionTimeout = 50 * time.Millisecond
		cfg.LeaderLeaseTimeout = 50 * time.Millisecond
		cfg.CommitTimeout = 5 * time.Millisecond
		cfg.LogOutput = io.Discard
		trans := raft.NewNetworkTransport(s, 3, 2*time.Second, io.Discard)
		store := raft.NewInmemStore()
		fsm := &counter{}
		r, err := raft.NewRaft(cfg, fsm, store, store, raft.NewInmemSnapshotStore(), trans)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatal(err)
		}
		nodes[id] = &raftNode{id: id, raft: r, fsm: fsm}
		t.Cleanup(func() {
			if err := r.Shutdown().Error(); err != nil {
				t.Error(err)
			}
			_ = trans.Close()
		})
	}
	return nodes
}

// patience bounds every wait for something that must happen (an election, a
// commit, a byte crossing a link). It is generous on purpose: on a busy
// machine an election can take seconds, and a test must not fail because
// the machine is slow, only because the thing never happens.
const patience = 30 * time.Second

// waitFor polls cond every 10 ms until it holds or wait passes.
func waitFor(wait time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(wait)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaderAmong returns the node of nodes that leads, if exactly one does.
func leaderAmong(nodes []*raftNode) (*raftNode, bool) {
	var leader *raftNode
	for _, n := range nodes {
		if n.raft.State() == raft.Leader {
			if leader != nil {
				return nil, false
			}
			leader = n
		}
	}
	return leader, leader != nil
}

func TestRaftMinorityPartitionCannotCommitWhileMajorityCan(t *testing.T) {
	nw := newTestNetwork(t, threeZones(), NetworkOptions{})
	nodes := startRaftCluster(t, ledgerMesh(t, nw))
	all := make([]*raftNode, 0, len(nodes))
	for _, n := range nodes {
		all = append(all, n)
	}

	var old *raftNode
	if !waitFor(patience, func() bool { var ok bool; old, ok = leaderAmong(all); return ok }) {
		t.Fatalf("no leader elected within %v", patience)
	}
	// A starved machine can lose the leader at any time: retry on whoever leads, and count
	// what every node applied rather than what was asked for.
	for i := range 5 {
		if _, err := commit(all, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("apply before the partition: %v", err)
		}
	}
	want := 0
	if !waitFor(patience, func() bool {
		old, _ = leaderAmong(all)
		if old == nil {
			return false
		}
		want = old.fsm.count()
		for _, n := range all {
			if n.fsm.count() != want {
				return false
			}
		}
		return want >= 5
	}) {
		t.Fatal("entries did not reach every node")
	}

	// Isolate the leader: every link to and from it, both directions. Nothing it
	// accepts from now on can commit, however long it tries.
	isolated, err := partition(context.Background(), nw, nw.LinksOf(old.id)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.raft.Apply([]byte("minority"), 300*time.Millisecond).Error(); err == nil {
		t.Error("the isolated old leader committed an entry")
	}

	var majority []*raftNode
	for _, n := range all {
		if n != old {
			majority = append(majority, n)
		}
	}
	// The majority elects a leader and commits. An election can be lost to CPU
	// starvation ("leadership lost while committing log"): commit retries on
	// whoever leads until patience runs out.
	leader, err := commit(majority, []byte("majority"))
	if err != nil {
		t.Fatalf("the majority could not commit within %v: %v", patience, err)
	}
	// The majority applied more than the 5 entries (the counter does not see a
	// term's no-op); the minority stays where it was.
	if got := old.fsm.count(); got != want {
		t.Errorf("isolated node applied %d entries, want %d", got, want)
	}
	if got := leader.fsm.count(); got <= want {
		t.Errorf("the majority's leader applied %d entries, want more than %d", got, want)
	}

	if err := isolated.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !waitFor(patience, func() bool {
		n := leader.fsm.count()
		for _, o := range all {
			n = max(n, o.fsm.count())
		}
		return old.fsm.count() == n
	}) {
		t.Errorf("after heal the old leader has %d entries, the leader %d", old.fsm.count(), leader.fsm.count())
	}
}

// commit applies data on whichever of nodes leads, retrying when there is no
// leader or leadership is lost mid-commit, until it commits or patience runs
// out. It returns the node that committed it. A failed attempt may still
// have committed (raft cannot say), so callers count applied entries rather
// than assume one apply each.
func commit(nodes []*raftNode, data []byte) (*raftNode, error) {
	deadline := time.Now().Add(patience)
	err := errors.New("no leader")
	for time.Now().Before(deadline) {
		if leader, ok := leaderAmong(nodes); ok {
			if err = leader.raft.Apply(data, 5*time.Second).Error(); err == nil {
				return leader, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, err
}

func TestRaftAsymmetricCutOfTheLeaderForcesAnElection(t *testing.T) {
	nw := newTestNetwork(t, threeZones(), NetworkOptions{})
	nodes := startRaftCluster(t, ledgerMesh(t, nw))
	all := make([]*raftNode, 0, len(nodes))
	for _, n := range nodes {
		all = append(all, n)
	}
	var old *raftNode
	if !waitFor(patience, func() bool { var ok bool; old, ok = leaderAmong(all); return ok }) {
		t.Fatalf("no leader elected within %v", patience)
	}
	// The leader still hears everyone, but nothing it sends arrives: its
	// followers stop hearing heartbeats and elect someone else.
	var faults []*Fault
	for _, n := range all {
		if n == old {
			continue
		}
		f, err := cut(context.Background(), nw, old.id, n.id)
		if err != nil {
			t.Fatal(err)
		}
		faults = append(faults, f)
	}
	var others []*raftNode
	for _, n := range all {
		if n != old {
			others = append(others, n)
		}
	}
	// Retry until patience runs out: a new leader can lose an election again on a
	// starved machine, but the old one can never lead the others while cut off.
	if _, err := commit(others, []byte("x")); err != nil {
		t.Errorf("followers cut off from the leader's messages elected no leader that could commit within %v: %v", patience, err)
	}
	for _, f := range faults {
		if err := f.Heal(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
