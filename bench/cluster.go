// Package bench holds the engines of `paylab bench`: the ledger benchmark (throughput and latency of an
// in-process durable cluster through its HTTP API, at an open-model rate) and the failover benchmark (the
// time from an abrupt leader kill to the next committed transfer, kill after kill). Both start their cluster
// through nodes/ledger/cluster and seed it with cluster.Seed; cmd/paylab only parses their flags.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/cluster"
	"paylab/regions"
)

// ClusterConfig is the ledger settings both benchmarks share.
type ClusterConfig struct {
	// Nodes is the cluster size (1..9).
	Nodes int
	// Dir is where the nodes' files go (Dir/run-<ns>/n<i>); empty means a temp dir removed afterwards.
	Dir string
	// StateSync fsyncs every state-machine commit.
	StateSync bool
	// Heartbeat, Lease and Election are raft's timeouts; Lease 0 means equal to Heartbeat.
	Heartbeat, Lease, Election time.Duration
	// NoElectionBackoff keeps raft's timeouts fixed.
	NoElectionBackoff bool
	// GroupInFlight, GroupMax and GroupInterval are the ledger's group-commit settings.
	GroupInFlight, GroupMax int
	GroupInterval           time.Duration
	// RaftLog receives raft's own log at RaftLevel; nil discards it.
	RaftLog   io.Writer
	RaftLevel string
}

// LeaseTimeout is the leader lease the nodes run with.
func (c ClusterConfig) LeaseTimeout() time.Duration {
	if c.Lease > 0 {
		return c.Lease
	}
	return c.Heartbeat
}

// configure sets node i's configuration from c.
func (c ClusterConfig) configure(i int, cfg *ledger.Config) {
	if c.Dir != "" {
		cfg.Dir = fmt.Sprintf("%s/run-%d/n%d", c.Dir, time.Now().UnixNano(), i+1)
	}
	cfg.StateSync = c.StateSync
	cfg.LogOutput = c.RaftLog
	cfg.LogLevel = c.RaftLevel
	cfg.HeartbeatTimeout = c.Heartbeat
	cfg.LeaderLeaseTimeout = c.LeaseTimeout()
	cfg.ElectionTimeout = c.Election
	cfg.NoElectionBackoff = c.NoElectionBackoff
	cfg.GroupCommitInFlight = c.GroupInFlight
	cfg.GroupCommitMax = c.GroupMax
	cfg.GroupCommitInterval = c.GroupInterval
}

// Cluster is a benchmark's ledger cluster and, when proxied, the network its raft links cross.
type Cluster struct {
	*cluster.Local
	nw *regions.Network
}

// StartCluster starts a cluster of c.Nodes nodes and waits for its leader. Proxied, every raft link crosses
// its own toxiproxy proxy (one region, one zone per node, no latency, no toxics; an external
// toxiproxy-server when TOXIPROXY_URL is set); otherwise raft uses plain TCP.
func StartCluster(ctx context.Context, c ClusterConfig, proxied bool) (*Cluster, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bc := &Cluster{}
	opts := cluster.Options{Nodes: c.Nodes, Dir: c.Dir, Configure: c.configure}
	if proxied {
		topo := proxiedTopology(c.Nodes)
		nw, err := regions.NewNetwork(sctx, topo, regions.NetworkOptions{ToxiproxyURL: os.Getenv("TOXIPROXY_URL")})
		if err != nil {
			return nil, fmt.Errorf("start network: %w", err)
		}
		bc.nw = nw
		names, placed := cluster.DefaultIDs(c.Nodes), topo.LedgerNodes()
		opts.IDs = names
		opts.Listen = func(id string) (raft.StreamLayer, error) {
			i := slices.Index(names, id)
			if i < 0 {
				return nil, fmt.Errorf("%s: %w", id, cluster.ErrUnknownNode)
			}
			return nw.ListenRaft(placed[i].ID)
		}
		opts.Wire = func(ctx context.Context, _ *cluster.Local) error { return nw.Connect(ctx) }
	}
	l, err := cluster.Start(sctx, opts)
	if err != nil {
		if bc.nw != nil {
			bc.nw.Close()
		}
		return nil, err
	}
	bc.Local = l
	return bc, nil
}

// proxiedTopology is one region with one zone per node and no latency.
func proxiedTopology(nodes int) regions.Topology {
	topo := regions.DefaultTopology()
	topo.Regions = []regions.Region{{Name: "bench"}}
	topo.Ledger.Nodes = nil
	for i := 0; i < nodes; i++ {
		z := string(rune('a' + i))
		topo.Regions[0].Zones = append(topo.Regions[0].Zones, z)
		topo.Ledger.Nodes = append(topo.Ledger.Nodes, regions.Placement{Region: "bench", Zone: z})
	}
	topo.Latency = regions.Latency{}
	return topo
}

// Close stops the nodes, then the network.
func (c *Cluster) Close() error {
	err := c.Local.Close()
	if c.nw != nil {
		c.nw.Close()
	}
	return err
}
