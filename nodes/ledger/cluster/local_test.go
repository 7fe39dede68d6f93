package cluster_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/cluster"
)

// patience bounds every wait for something that must happen; a slow machine only makes the test slower.
const patience = 30 * time.Second

// tcpLayer is raft over plain TCP on loopback, handed to the cluster through Options.Listen.
type tcpLayer struct{ net.Listener }

func (l tcpLayer) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(a), timeout)
}

func start(t *testing.T, opts cluster.Options) *cluster.Local {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func TestVerbsAnswerWithTheirSentinels(t *testing.T) {
	c := start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if got := c.Nodes(); len(got) != 3 || got[0] != "n1" {
		t.Fatalf("nodes %v, want n1..n3", got)
	}
	leader, err := cluster.WaitLeader(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Crash(ctx, "n9"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("crash of an unknown node: %v, want ErrUnknownNode", err)
	}
	if err := c.Restart(ctx, leader); !errors.Is(err, cluster.ErrUp) {
		t.Errorf("restart of a live node: %v, want ErrUp", err)
	}
	if err := c.Crash(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.Crash(ctx, leader); !errors.Is(err, cluster.ErrDown) {
		t.Errorf("second crash: %v, want ErrDown", err)
	}
	if _, err := c.Status(leader); !errors.Is(err, cluster.ErrDown) {
		t.Errorf("status of a crashed node: %v, want ErrDown", err)
	}
	if got := len(c.Live()); got != 2 {
		t.Errorf("%d live nodes after a crash, want 2", got)
	}
	next, err := cluster.WaitLeader(ctx, c)
	if err != nil || next == leader {
		t.Fatalf("leader after the crash %q (%v), want another node", next, err)
	}
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Live()); got != 3 {
		t.Errorf("%d live nodes after the restart, want 3", got)
	}
}

func TestRestartedNodeKeepsItsAddressesAndState(t *testing.T) {
	c := start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cl, err := client.New(client.DefaultConfig(cluster.URLs(c)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cluster.Seed(ctx, cl, 2, 100); err != nil {
		t.Fatal(err)
	}
	victim := c.Nodes()[0]
	before, _ := c.HTTPAddr(victim)
	raftBefore, _ := c.RaftAddr(victim)
	if err := c.Crash(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	after, _ := c.HTTPAddr(victim)
	raftAfter, _ := c.RaftAddr(victim)
	if before != after || raftBefore != raftAfter {
		t.Errorf("addresses moved: http %s → %s, raft %s → %s", before, after, raftBefore, raftAfter)
	}
	acc, err := cl.Account(ctx, cluster.AccountID(1), false)
	if err != nil || acc.Balance != 100 {
		t.Errorf("seeded account after the restart: %+v, %v", acc, err)
	}
}

// A restart runs outside the cluster's lock: while a node is starting (here held in its Listen), the other
// verbs answer, a second restart of it is refused, and a Close stops what the restart then starts.
func TestRestartHoldsNoLockAcrossTheStart(t *testing.T) {
	listening := make(chan struct{}, 1)
	release := make(chan struct{})
	var held bool
	opts := cluster.Options{Listen: func(id string) (raft.StreamLayer, error) {
		if id == "n1" && held {
			listening <- struct{}{}
			<-release
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		return tcpLayer{ln}, err
	}}
	c, err := cluster.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // a second Close stops nothing more
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := c.Crash(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	held = true
	done := make(chan error, 1)
	go func() { done <- c.Restart(ctx, "n1") }()
	<-listening
	if got := len(c.Live()); got != 2 {
		t.Errorf("%d live nodes while n1 starts, want 2", got)
	}
	c.Leader()
	if err := c.Restart(ctx, "n1"); !errors.Is(err, cluster.ErrUp) {
		t.Errorf("a second restart while n1 starts: %v, want ErrUp", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	waitFor(t, func() bool { return errors.Is(c.Restart(ctx, "n2"), cluster.ErrClosed) })
	close(release)
	if err := <-done; !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("a restart that finished after Close: %v, want ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
	if live := c.Live(); len(live) != 0 {
		t.Errorf("nodes left running after Close: %v", live)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
