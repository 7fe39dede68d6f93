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
	c, err := a.Dial(b.ServerAddress(), time.Second)
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
	c, err := a.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ping(c, time.Second); err != nil {
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
	if !waitFor(5*time.Second, func() bool { var ok bool; old, ok = leaderAmong(all); return ok }) {
		t.Fatal("no leader elected within 5s")
	}
	for i := range 5 {
		if err := old.raft.Apply([]byte(fmt.Sprint(i)), time.Second).Error(); err != nil {
			t.Fatalf("apply before the partition: %v", err)
		}
	}
	if !waitFor(5*time.Second, func() bool {
		for _, n := range all {
			if n.fsm.count() != 5 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("entries did not reach every node")
	}

	// Isolate the leader: every link to and from it, both directions.
	cutAt := time.Now()
	isolated, err := nw.Partition(context.Background(), nw.LinksOf(old.id)...)
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
	var leader *raftNode
	if !waitFor(5*time.Second, func() bool { var ok bool; leader, ok = leaderAmong(majority); return ok }) {
		t.Fatal("the majority elected no leader within 5s")
	}
	if err := leader.raft.Apply([]byte("majority"), time.Second).Error(); err != nil {
		t.Fatalf("the majority could not commit: %v", err)
	}
	t.Logf("isolating the leader to the majority's next commit: %v (heartbeat and election timeouts 50ms)", time.Since(cutAt))
	// The majority applied 6 entries (plus possibly the no-op of its new term,
	// which a counter does not see); the minority stays at 5.
	if got := old.fsm.count(); got != 5 {
		t.Errorf("isolated node applied %d entries, want 5", got)
	}

	if err := isolated.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return old.fsm.count() == leader.fsm.count() }) {
		t.Errorf("after heal the old leader has %d entries, the leader %d", old.fsm.count(), leader.fsm.count())
	}
}

func TestRaftAsymmetricCutOfTheLeaderForcesAnElection(t *testing.T) {
	nw := newTestNetwork(t, threeZones(), NetworkOptions{})
	nodes := startRaftCluster(t, ledgerMesh(t, nw))
	all := make([]*raftNode, 0, len(nodes))
	for _, n := range nodes {
		all = append(all, n)
	}
	var old *raftNode
	if !waitFor(5*time.Second, func() bool { var ok bool; old, ok = leaderAmong(all); return ok }) {
		t.Fatal("no leader elected within 5s")
	}
	// The leader still hears everyone, but nothing it sends arrives: its
	// followers stop hearing heartbeats and elect someone else.
	var faults []*Fault
	for _, n := range all {
		if n == old {
			continue
		}
		f, err := nw.Cut(context.Background(), old.id, n.id)
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
	var leader *raftNode
	if !waitFor(5*time.Second, func() bool { var ok bool; leader, ok = leaderAmong(others); return ok }) {
		t.Fatal("followers cut off from the leader's messages elected no new leader within 5s")
	}
	if err := leader.raft.Apply([]byte("x"), time.Second).Error(); err != nil {
		t.Errorf("new leader could not commit: %v", err)
	}
	for _, f := range faults {
		if err := f.Heal(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
