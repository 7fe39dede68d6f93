// Package ledgertest gives tests an in-process ledger cluster (cluster.Local: N durable nodes with real raft,
// bbolt files and TCP on loopback) addressed by position, plus the waits a test needs (for a leader, for
// replication, for equal state hashes). Helpers return errors; callers decide whether that fails a test.
package ledgertest

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/raft"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/cluster"
)

// Options configure a cluster.
type Options struct {
	// Nodes is the cluster size (default 3); the nodes are named n1, n2, ….
	Nodes int
	// Dir is where node directories go; empty means a new temp dir removed by Close.
	Dir string
	// Configure, when set, adjusts each node's config before it starts (i is the node's position).
	Configure func(i int, c *ledger.Config)
	// Listen, when set, gives node i its raft stream layer before every start (cluster.Options.Listen).
	Listen func(i int) (raft.StreamLayer, error)
	// Wire, when set, runs once every node has started, before the bootstrap (cluster.Options.Wire).
	Wire func(ctx context.Context) error
}

// Cluster is a cluster.Local whose nodes tests address by position. Methods are safe for concurrent use.
type Cluster struct {
	local *cluster.Local
	ids   []string
}

// Start creates, starts and bootstraps a cluster and waits until it has a leader.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	ids := cluster.DefaultIDs(opts.Nodes)
	copts := cluster.Options{IDs: ids, Dir: opts.Dir, Configure: opts.Configure}
	if opts.Listen != nil {
		copts.Listen = func(id string) (raft.StreamLayer, error) { return opts.Listen(slices.Index(ids, id)) }
	}
	if opts.Wire != nil {
		copts.Wire = func(ctx context.Context, _ *cluster.Local) error { return opts.Wire(ctx) }
	}
	l, err := cluster.Start(ctx, copts)
	if err != nil {
		return nil, err
	}
	return &Cluster{local: l, ids: ids}, nil
}

// Local is the cluster under the positions, for callers that speak node ids (cluster.Cluster).
func (c *Cluster) Local() *cluster.Local { return c.local }

// ID is the id of node i.
func (c *Cluster) ID(i int) string { return c.ids[i] }

// Dir is the directory holding the node directories.
func (c *Cluster) Dir() string { return c.local.Dir() }

// Size is the number of nodes, up or down.
func (c *Cluster) Size() int { return len(c.ids) }

// Node returns node i, or nil while it is down.
func (c *Cluster) Node(i int) *ledger.Node { return c.local.Node(c.ids[i]) }

// Config returns the configuration node i runs with (ports pinned after the first start).
func (c *Cluster) Config(i int) ledger.Config {
	cfg, _ := c.local.Config(c.ids[i]) // every position names a node
	return cfg
}

// URLs maps node id to HTTP base URL, for clients.
func (c *Cluster) URLs() map[string]string { return cluster.URLs(c.local) }

// Live returns the nodes that are up.
func (c *Cluster) Live() []*ledger.Node {
	var out []*ledger.Node
	for _, id := range c.local.Live() {
		if n := c.local.Node(id); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Leader returns the live node that is a ready leader, or nil.
func (c *Cluster) Leader() *ledger.Node {
	if id, _, ok := c.local.Leader(); ok {
		return c.local.Node(id)
	}
	return nil
}

// LeaderIndex returns the position of the ready leader, or -1.
func (c *Cluster) LeaderIndex() int {
	id, _, ok := c.local.Leader()
	if !ok {
		return -1
	}
	return slices.Index(c.ids, id)
}

// WaitLeader waits until a live node is a ready leader and returns it.
func (c *Cluster) WaitLeader(ctx context.Context) (*ledger.Node, error) {
	for {
		id, err := cluster.WaitLeader(ctx, c.local)
		if err != nil {
			return nil, fmt.Errorf("wait for a leader: %w", err)
		}
		if n := c.local.Node(id); n != nil {
			return n, nil
		}
		// It went down between the two looks: wait for the next one.
	}
}

// Crash stops node i abruptly (no clean-shutdown marker, no leadership transfer).
func (c *Cluster) Crash(i int) error { return c.local.Crash(context.Background(), c.ids[i]) }

// Stop stops node i cleanly.
func (c *Cluster) Stop(i int) error { return c.local.Stop(context.Background(), c.ids[i]) }

// Restart starts node i again from its own files, on the same addresses.
func (c *Cluster) Restart(i int) (*ledger.Node, error) {
	if err := c.local.Restart(context.Background(), c.ids[i]); err != nil {
		return nil, err
	}
	return c.local.Node(c.ids[i]), nil
}

// Close stops every live node cleanly and removes the temp dir the cluster made.
func (c *Cluster) Close() error { return c.local.Close() }
