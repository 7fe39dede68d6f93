package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"paylab/nodes/ledger"
)

func smallCluster(nodes int) ClusterConfig {
	def := ledger.DefaultConfig()
	return ClusterConfig{Nodes: nodes, Heartbeat: def.HeartbeatTimeout, Election: def.ElectionTimeout,
		GroupInFlight: def.GroupCommitInFlight, GroupMax: def.GroupCommitMax, RaftLevel: "warn"}
}

// A short run on each network commits transfers and prints a line per run and the ratio.
func TestLedgerRunsOnBothNetworks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cfg := LedgerConfig{Cluster: smallCluster(1), Networks: []bool{false, true}, PerRequest: 1, Rate: 50,
		Duration: 300 * time.Millisecond, Connections: 8, Accounts: 10, Repeat: 1}
	if err := Ledger(ctx, cfg, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"run 1/1 direct:", "run 1/1 proxied:", "proxied/direct throughput ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, out.String())
		}
	}
	r, err := LedgerOnce(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK == 0 {
		t.Errorf("no transfer committed: %+v", r)
	}
}

// With every raft link proxied, the killed leader restarts on a fresh raft layer and rejoins, so the next
// kill finds all nodes up.
func TestFailoverProxiedRejoinsAfterEachKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cfg := FailoverConfig{Cluster: smallCluster(3), Proxied: true, Kills: 2, Rate: 100, Settle: 100 * time.Millisecond,
		Stall: 30 * time.Second, GiveUp: 60 * time.Second, Target: time.Minute, ClientBackoff: 10 * time.Millisecond,
		Timeout: 2 * time.Second, MaxInFlight: 64}
	if err := Failover(ctx, cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"kill  1: leader ", "kill  2: leader ", "failover over 2 kills"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, out.String())
		}
	}
}
