package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"paylab/nodes/ledger"
	"paylab/regions"
)

// TestFaultsOnARealLab runs the catalogue against one shared lab: real
// sockets, the embedded toxiproxy, a durable three-node raft ledger. Each
// subtest leaves the lab healthy (every node up, a leader, equal state) and
// the network's toxics exactly as it found them.
func TestFaultsOnARealLab(t *testing.T) {
	lab := startTestLab(t)
	pristine := lab.toxics(t)
	// Capacity before and after a heal is measured by BenchmarkHealRestoresThroughput.
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			lab.healthy(t)
			f(t)
			lab.healthy(t)
			if got := lab.toxics(t); !slices.Equal(got, pristine) {
				t.Errorf("toxics after the test differ from before:\n got %q\nwant %q", got, pristine)
			}
		})
		if t.Failed() {
			t.FailNow() // the lab may be left broken; later subtests would only add noise
		}
	}
	run("MinorityCannotCommitMajorityCan", func(t *testing.T) { testMinorityCannotCommit(t, lab) })
	run("AsymmetricPartitionIsOneWay", func(t *testing.T) { testAsymmetricPartition(t, lab) })
	run("BridgeElectsALeaderAndCommits", func(t *testing.T) { testBridge(t, lab) })
	run("LeaderKillThenANewLeaderCommits", func(t *testing.T) { testLeaderKill(t, lab) })
	run("ZoneDownCrashRejoinsWithTheSameState", func(t *testing.T) { testZoneDownCrash(t, lab) })
	run("RegionLatencyShowsInCommitLatency", func(t *testing.T) { testRegionLatencyInCommitLatency(t, lab) })
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func inject(t testing.TB, ctx context.Context, env Env, f Fault) {
	t.Helper()
	// A fault aimed at the leader finds none while an election runs (a starved machine holds more of them);
	// it then changes nothing and says ErrNoLeader, so it is retried until ctx's patience runs out.
	for {
		err := f.Inject(ctx, env)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoLeader) || ctx.Err() != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() { // a failing test must not leave the fault behind
		if err := f.Heal(context.Background(), env); err != nil {
			t.Errorf("heal in cleanup: %v", err)
		}
	})
}

func heal(t testing.TB, ctx context.Context, env Env, f Fault) {
	t.Helper()
	if err := f.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := f.Heal(ctx, env); err != nil {
		t.Fatalf("second heal: %v", err)
	}
}

// leaderSpy is the test lab as a fault sees it, noting the leader it last
// reported: a fault picks the leader by asking at inject time, and on a busy
// machine leadership can move between a test's own question and the fault's,
// so a test judges the fault by the answer the fault got.
type leaderSpy struct {
	*testLab
	mu  sync.Mutex
	saw regions.NodeID
}

func (s *leaderSpy) LeaderNode() (regions.NodeID, bool) {
	id, ok := s.testLab.LeaderNode()
	if ok {
		s.mu.Lock()
		s.saw = id
		s.mu.Unlock()
	}
	return id, ok
}

// leader is the leader last reported to the fault ("" if none was).
func (s *leaderSpy) leader() regions.NodeID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saw
}

// leaderNow waits until a node leads and returns it.
func leaderNow(t *testing.T, ctx context.Context, lab *testLab) regions.NodeID {
	t.Helper()
	var leader regions.NodeID
	if !waitFor(ctx, patience, func() bool { var ok bool; leader, ok = lab.LeaderNode(); return ok }) {
		t.Fatalf("no leader within %v", patience)
	}
	return leader
}

// newLeaderOtherThan waits until a node other than old leads.
func newLeaderOtherThan(t *testing.T, ctx context.Context, lab *testLab, old regions.NodeID) regions.NodeID {
	t.Helper()
	var leader regions.NodeID
	if !waitFor(ctx, patience, func() bool {
		id, ok := lab.LeaderNode()
		leader = id
		return ok && id != old
	}) {
		t.Fatalf("no leader other than %s within %v", old, patience)
	}
	return leader
}

func (l *testLab) node(t *testing.T, id regions.NodeID) *ledger.Node {
	t.Helper()
	i, err := l.index(id)
	if err != nil {
		t.Fatal(err)
	}
	n := l.cluster.Node(i)
	if n == nil {
		t.Fatalf("%s is down", id)
	}
	return n
}

func testMinorityCannotCommit(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 3*patience)
	spy := &leaderSpy{testLab: lab}
	f := mustNew(t, lab.topo, "majority-minority", "", map[string]any{"leader": "minority"})
	inject(t, ctx, spy, f)
	t.Logf("%s", f.(Detailer).Detail())
	old := spy.leader()
	if d := f.(Detailer).Detail(); old == "" || !strings.HasPrefix(d, "minority {"+string(old)+"}") {
		t.Fatalf("detail %q, want the leader the fault saw (%q) alone in the minority", d, old)
	}
	minority := lab.node(t, old)
	// What the minority knew was committed when it was cut off, it may still
	// apply (a busy machine can be slow to); nothing after that.
	if !waitFor(ctx, patience, func() bool { ok, err := minority.CaughtUp(); return ok && err == nil }) {
		t.Fatalf("the minority did not apply what it knew was committed (commit %d, applied %d)", minority.Status().CommitIndex, minority.FSM().AppliedIndex())
	}
	applied := minority.FSM().AppliedIndex()

	// The old leader, alone, cannot commit: it steps down when its lease
	// runs out, and the write's outcome is at best unknown.
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err := minority.Transfer(wctx, ledger.Transfer{ID: "minority-write", From: "acc-2", To: "acc-3", Amount: 7})
	cancel()
	if err == nil {
		t.Fatal("the minority committed a transfer")
	}
	t.Logf("the minority's write: %v", err)

	newLeader := newLeaderOtherThan(t, ctx, lab, old)
	for i := range 5 {
		if _, err := lab.transfer(ctx, fmt.Sprintf("majority-%d", i)); err != nil {
			t.Fatalf("the majority could not commit: %v", err)
		}
	}
	if got := minority.FSM().AppliedIndex(); got != applied {
		t.Errorf("the minority applied up to %d during the partition, it was at %d", got, applied)
	}
	if got := lab.node(t, newLeader).Status().CommitIndex; got <= applied {
		t.Errorf("the majority's commit index %d did not pass the minority's %d", got, applied)
	}
	heal(t, ctx, lab, f)

	lab.healthy(t)
	acc, err := lab.node(t, old).Account(ctx, "acc-3", true)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance != 1<<40 {
		t.Errorf("acc-3 holds %d after heal: the minority's write applied", acc.Balance)
	}
}

func testAsymmetricPartition(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 8*patience) // room for repeated attempts

	// out on the leader: nothing it sends arrives, so its followers elect
	// another; everything they send still reaches it, so it follows the new
	// leader and applies what the majority commits. That needs the old leader
	// to hold every entry the leader sending to it has: its rejection of an
	// append would never arrive, and raft backs up only on a rejection. It
	// does when it still led as the cut took effect and no other election
	// follows the first; on a busy machine leadership can move before the cut
	// or again after it, and then the attempt proves nothing and is repeated.
	var old regions.NodeID
	var out Fault
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			t.Fatalf("leadership moved around the cut in each of %d attempts", attempt-1)
		}
		if attempt > 1 {
			heal(t, ctx, lab, out)
			lab.healthy(t)
		}
		old = leaderNow(t, ctx, lab)
		term := lab.node(t, old).Status().Term
		out = mustNew(t, lab.topo, "asymmetric-partition", string(old), map[string]any{"direction": "out"})
		inject(t, ctx, lab, out)
		if st := lab.node(t, old).Status(); st.State != "Leader" || st.Term != term {
			t.Logf("attempt %d: %s stopped leading before the cut took effect; again", attempt, old)
			continue
		}
		newLeader := newLeaderOtherThan(t, ctx, lab, old)
		newTerm := lab.node(t, newLeader).Status().Term
		r, _, err := lab.transferResult(ctx, fmt.Sprintf("asym-out-%d", attempt))
		if err != nil {
			t.Fatalf("the followers could not commit: %v", err)
		}
		moved := func() bool {
			st := lab.node(t, newLeader).Status()
			return st.State != "Leader" || st.Term != newTerm
		}
		applied := func() bool { return lab.node(t, old).FSM().AppliedIndex() >= r.Index }
		if !waitFor(ctx, patience, func() bool { return applied() || moved() }) {
			t.Errorf("the old leader, which hears everyone, did not apply index %d (at %d) in %v under one leader",
				r.Index, lab.node(t, old).FSM().AppliedIndex(), patience)
			break
		}
		if applied() {
			break
		}
		t.Logf("attempt %d: %s stopped leading before %s applied index %d; again", attempt, newLeader, old, r.Index)
	}
	if id, ok := lab.LeaderNode(); ok && id == old {
		t.Errorf("the old leader leads again although none of its bytes arrive")
	}
	heal(t, ctx, lab, out)
	lab.healthy(t)

	// in on a follower: it hears nothing, so it falls behind while the
	// others commit.
	leader := leaderNow(t, ctx, lab)
	deaf := lab.ids[0]
	if deaf == leader {
		deaf = lab.ids[1]
	}
	in := mustNew(t, lab.topo, "asymmetric-partition", string(deaf), map[string]any{"direction": "in"})
	inject(t, ctx, lab, in)
	applied := lab.node(t, deaf).FSM().AppliedIndex()
	for i := range 3 {
		if _, err := lab.transfer(ctx, fmt.Sprintf("asym-in-%d", i)); err != nil {
			t.Fatalf("the majority could not commit: %v", err)
		}
	}
	if got := lab.node(t, deaf).FSM().AppliedIndex(); got != applied {
		t.Errorf("the deaf follower applied up to %d, it was at %d", got, applied)
	}
	heal(t, ctx, lab, in)
}

func testBridge(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 3*patience)
	bridge := mustNew(t, lab.topo, "bridge", "", nil)
	inject(t, ctx, lab, bridge)
	t.Logf("%s", bridge.(Detailer).Detail())
	if _, err := lab.transfer(ctx, "bridge-0"); err != nil {
		t.Fatalf("no commit across the bridge: %v", err)
	}
	// Kill the leader: the bridge and the other half elect a new one, and
	// the old leader comes back into a half that reaches only the bridge.
	spy := &leaderSpy{testLab: lab}
	kill := mustNew(t, lab.topo, "leader-kill", "", nil)
	inject(t, ctx, spy, kill)
	newLeaderOtherThan(t, ctx, lab, spy.leader())
	heal(t, ctx, spy, kill)
	for i := range 5 {
		if _, err := lab.transfer(ctx, fmt.Sprintf("bridge-%d", i+1)); err != nil {
			t.Fatalf("no commit after an election across the bridge: %v", err)
		}
	}
	lab.converged(t, ctx) // the restarted old leader caught up through the bridge
	heal(t, ctx, lab, bridge)
}

func testLeaderKill(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 3*patience)
	spy := &leaderSpy{testLab: lab}
	kill := mustNew(t, lab.topo, "leader-kill", "", nil)
	start := time.Now()
	inject(t, ctx, spy, kill)
	old := spy.leader()
	if d := kill.(Detailer).Detail(); old == "" || d != "the leader; crashed "+string(old) {
		t.Fatalf("detail %q, want the leader the fault saw (%q) named", d, old)
	}
	if lab.cluster.Node(slices.Index(lab.ids, old)) != nil {
		t.Errorf("%s, the leader, is still up", old)
	}
	newLeaderOtherThan(t, ctx, lab, old)
	if _, err := lab.transfer(ctx, "after-leader-kill"); err != nil {
		t.Fatal(err)
	}
	t.Logf("leader kill to the next commit: %v (heartbeat %v, election %v; a figure, not judged)", time.Since(start).Round(time.Millisecond), testHeartbeat, testElection)
	heal(t, ctx, spy, kill)
	lab.converged(t, ctx)
}

func testZoneDownCrash(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 3*patience)
	zone := mustNew(t, lab.topo, "zone-down", "us-east/a", map[string]any{"mode": "crash"})
	inject(t, ctx, lab, zone)
	if n := lab.cluster.Node(0); n != nil {
		t.Fatal("ledger:us-east/a is still up")
	}
	for i := range 20 {
		if _, err := lab.transfer(ctx, fmt.Sprintf("zone-down-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := lab.converged(t, ctx)
	heal(t, ctx, lab, zone)
	// The restarted node must reach the same state without a new write.
	after, err := lab.cluster.WaitConverged(ctx)
	if err != nil {
		t.Fatalf("the zone's node did not rejoin: %v", err)
	}
	if len(lab.cluster.Live()) != 3 || after.Hash != before.Hash {
		t.Errorf("after heal %d nodes up, hash %.12s; before heal (two nodes) %.12s", len(lab.cluster.Live()), after.Hash, before.Hash)
	}
}
