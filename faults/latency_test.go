package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"paylab/nodes/ledger"
)

// commitLatencies commits n transfers one after another at the leader and
// returns how long each took.
func commitLatencies(t *testing.T, ctx context.Context, lab *testLab, prefix string, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for i := range n {
		took, err := lab.transfer(ctx, fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, took)
	}
	return out
}

func testRegionLatencyInCommitLatency(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 30*time.Second)
	const oneWay = 20 * time.Millisecond
	const rtt = 2 * oneWay
	const commits = 40
	base := median(commitLatencies(t, ctx, lab, "lat-base", commits))

	// Every ledger node sits in its own region: slowing the leader's region
	// puts both its followers 20 ms away each way, so every commit waits
	// one round trip across.
	leader, _ := lab.LeaderNode()
	node, _ := lab.topo.Node(leader)
	f := mustNew(t, lab.topo, "latency", node.Placement.Region, map[string]any{"latency": oneWay.String()})
	inject(t, ctx, lab, f)
	slow := median(commitLatencies(t, ctx, lab, "lat-slow", commits))
	if now, _ := lab.LeaderNode(); now != leader {
		t.Fatalf("the leader moved from %s to %s during the measurement", leader, now)
	}
	heal(t, ctx, lab, f)
	healed := median(commitLatencies(t, ctx, lab, "lat-healed", commits))

	added := slow - base
	t.Logf("median commit latency over %d commits: %v before, %v with %v one-way on %s (added %v, configured RTT %v), %v after heal",
		commits, base.Round(10*time.Microsecond), slow.Round(10*time.Microsecond), oneWay, node.Placement.Region,
		added.Round(10*time.Microsecond), rtt, healed.Round(10*time.Microsecond))
	if added < rtt*8/10 || added > rtt*12/10 {
		t.Errorf("the fault added %v to the median commit latency, want the configured RTT %v ± 20%%", added, rtt)
	}
	if healed > base+rtt/4 {
		t.Errorf("after heal the median commit latency is %v, before the fault %v", healed, base)
	}
}

// throughput runs workers closed-loop transfers at the leader for window
// and returns commits per second.
func throughput(t *testing.T, ctx context.Context, lab *testLab, prefix string, workers int, window time.Duration) float64 {
	t.Helper()
	var committed atomic.Int64
	var failed atomic.Value
	deadline := time.Now().Add(window)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
				err := lab.atLeader(ctx, func(n *ledger.Node) error {
					_, err := n.Transfer(ctx, ledger.Transfer{ID: fmt.Sprintf("%s-%d-%d", prefix, w, i),
						From: fmt.Sprintf("acc-%d", 2*w+10), To: fmt.Sprintf("acc-%d", 2*w+11), Amount: 1})
					return err
				})
				if err != nil {
					failed.Store(err)
					return
				}
				committed.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		t.Fatalf("load %s: %v", prefix, err)
	}
	return float64(committed.Load()) / window.Seconds()
}

// capacity measures throughput over rounds windows of 300 ms and returns
// the second best, with every window for the log. The disk's noise is one
// way — an fsync stall only slows a window — so a high window is the
// cluster's capacity showing, and the second best ignores one lucky spike;
// a heal that left something broken slows every window.
func capacity(t *testing.T, ctx context.Context, lab *testLab, prefix string, rounds int) (float64, string) {
	t.Helper()
	const workers = 16
	const window = 300 * time.Millisecond
	rates := make([]float64, rounds)
	for r := range rounds {
		rates[r] = throughput(t, ctx, lab, fmt.Sprintf("%s-%d", prefix, r), workers, window)
	}
	windows := fmt.Sprintf("%.0f", rates)
	slices.Sort(rates)
	return rates[max(0, rounds-2)], windows
}

// recovered measures capacity after a heal, up to attempts times, until it
// reaches 80% of before: the claim is that the capacity comes back within
// a few seconds of the heal. A heal that left a toxic or a node behind fails
// every attempt; a noisy neighbour on the shared disk fails one.
func recovered(t *testing.T, ctx context.Context, lab *testLab, prefix string, before float64) (float64, string) {
	t.Helper()
	const attempts = 3
	var log []string
	var got float64
	for a := range attempts {
		c, windows := capacity(t, ctx, lab, fmt.Sprintf("%s-%d", prefix, a), 5)
		log = append(log, windows)
		got = c
		if c >= 0.8*before {
			break
		}
	}
	return got, strings.Join(log, " then ")
}

// testHealRestoresThroughput compares capacity before a fault and after
// its heal with the same leader: which node leads changes the capacity of
// this lab by up to a third (all three share one disk; measured 940–1140
// commits/s with ledger:us-east/a leading, 750–870 with the others), and
// raft does not give leadership back after a heal, so faults that move the
// leader are compared elsewhere by whether the cluster commits, not by speed.
func testHealRestoresThroughput(t *testing.T, lab *testLab) {
	ctx := testCtx(t, 30*time.Second)
	const rounds = 5
	leader, _ := lab.LeaderNode()
	before, beforeWindows := capacity(t, ctx, lab, "tp-before", rounds)

	// Latency on the leader's region: every commit waits a 40 ms round trip.
	node, _ := lab.topo.Node(leader)
	slow := mustNew(t, lab.topo, "latency", node.Placement.Region, map[string]any{"latency": "20ms"})
	inject(t, ctx, lab, slow)
	during, _ := capacity(t, ctx, lab, "tp-latency", 1)
	heal(t, ctx, lab, slow)
	afterLatency, afterLatencyWindows := recovered(t, ctx, lab, "tp-after-latency", before)

	// A follower cut off in a minority: after heal it must catch up on
	// everything it missed while the load goes on at full speed.
	split := mustNew(t, lab.topo, "majority-minority", "", map[string]any{"leader": "majority"})
	inject(t, ctx, lab, split)
	duringSplit, _ := capacity(t, ctx, lab, "tp-split", 1)
	heal(t, ctx, lab, split)
	lab.converged(t, ctx)
	afterSplit, afterSplitWindows := recovered(t, ctx, lab, "tp-after-split", before)

	if now, _ := lab.LeaderNode(); now != leader {
		t.Fatalf("the leader moved from %s to %s: the figures compare different leaders", leader, now)
	}
	t.Logf("commits/s, 16 closed-loop workers, second best of %d windows of 300ms, leader %s: %.0f before %s; "+
		"%.0f with 20ms on %s, %.0f after its heal %s (%.2f of before); %.0f with a follower split off (%s), %.0f after heal %s (%.2f of before)",
		rounds, leader, before, beforeWindows, during, node.Placement.Region, afterLatency, afterLatencyWindows, afterLatency/before,
		duringSplit, split.(Detailer).Detail(), afterSplit, afterSplitWindows, afterSplit/before)
	if during > 0.7*before {
		t.Errorf("with the latency fault %.0f commits/s, not clearly below %.0f: the fault did not bite", during, before)
	}
	for name, after := range map[string]float64{"latency": afterLatency, "majority-minority": afterSplit} {
		if after < 0.8*before {
			t.Errorf("after healing %s %.0f commits/s, less than 80%% of %.0f before", name, after, before)
		}
	}
}
