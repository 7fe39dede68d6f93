// Package ledgertest starts in-process ledger clusters on loopback for tests and benchmarks: N durable nodes
// with real raft, bbolt files and TCP, plus the verbs a test needs (wait for a leader, crash, restart, wait for
// replication, compare state hashes). Helpers return errors; callers decide whether that fails a test.
package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"paylab/nodes/ledger"
)

// Options configure a cluster.
type Options struct {
	// Nodes is the cluster size (default 3).
	Nodes int
	// Dir is where node directories go; empty means a new temp dir removed by Close.
	Dir string
	// Configure, when set, adjusts each node's config before it starts (i is the node's position).
	Configure func(i int, c *ledger.Config)
}

// Cluster is a set of ledger nodes in this process. Methods are safe for concurrent use.
type Cluster struct {
	mu      sync.Mutex
	nodes   []*ledger.Node // nil while a node is down
	cfgs    []ledger.Config
	servers []ledger.Server
	dir     string
	ownDir  bool
}

// Start creates, starts and bootstraps a cluster and waits until it has a leader.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	c := &Cluster{dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "paylab-ledger-")
		if err != nil {
			return nil, fmt.Errorf("cluster temp dir: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	for i := 0; i < opts.Nodes; i++ {
		cfg := ledger.DefaultConfig()
		cfg.ID = fmt.Sprintf("n%d", i+1)
		cfg.Dir = filepath.Join(c.dir, cfg.ID)
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		n, err := ledger.Start(cfg)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("start node %s: %w", cfg.ID, err)
		}
		// Restarts reuse the ports the node got, so peers' raft configuration and clients' maps stay valid.
		if cfg.StreamLayer == nil {
			cfg.RaftAddr = n.RaftAddr()
		}
		cfg.HTTPAddr = n.HTTPAddr()
		c.nodes = append(c.nodes, n)
		c.cfgs = append(c.cfgs, cfg)
		c.servers = append(c.servers, ledger.Server{ID: cfg.ID, RaftAddr: n.RaftAddr()})
	}
	for _, n := range c.nodes {
		if err := n.Bootstrap(c.servers); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := c.WaitLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Dir is the directory holding the node directories.
func (c *Cluster) Dir() string { return c.dir }

// Size is the number of nodes, up or down.
func (c *Cluster) Size() int { return len(c.cfgs) }

// Node returns node i, or nil while it is down.
func (c *Cluster) Node(i int) *ledger.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Config returns the configuration node i runs with (ports pinned after the first start).
func (c *Cluster) Config(i int) ledger.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfgs[i]
}

// URLs maps node id to HTTP base URL, for clients.
func (c *Cluster) URLs() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.cfgs))
	for _, cfg := range c.cfgs {
		out[cfg.ID] = "http://" + cfg.HTTPAddr
	}
	return out
}

// Live returns the nodes that are up.
func (c *Cluster) Live() []*ledger.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*ledger.Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Leader returns the live node that is a ready leader, or nil.
func (c *Cluster) Leader() *ledger.Node {
	for _, n := range c.Live() {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

// LeaderIndex returns the position of the ready leader, or -1.
func (c *Cluster) LeaderIndex() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if n != nil && n.IsLeader() {
			return i
		}
	}
	return -1
}

// poll calls cond every few milliseconds until it is true or ctx ends.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("wait for %s: %w (last: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// WaitLeader waits until a live node is a ready leader.
func (c *Cluster) WaitLeader(ctx context.Context) (*ledger.Node, error) {
	var l *ledger.Node
	err := poll(ctx, "a leader", func() (bool, error) {
		l = c.Leader()
		return l != nil, nil
	})
	return l, err
}

// WaitApplied waits until every live node has applied index.
func (c *Cluster) WaitApplied(ctx context.Context, index uint64) error {
	return poll(ctx, fmt.Sprintf("index %d on every live node", index), func() (bool, error) {
		for _, n := range c.Live() {
			if got := n.FSM().AppliedIndex(); got < index {
				return false, fmt.Errorf("%s applied %d", n.ID(), got)
			}
		}
		return true, nil
	})
}

// WaitConverged waits until every live node has applied the leader's last index and all state hashes match;
// it returns the common summary.
func (c *Cluster) WaitConverged(ctx context.Context) (ledger.StateSummary, error) {
	var sum ledger.StateSummary
	err := poll(ctx, "equal state on every live node", func() (bool, error) {
		l := c.Leader()
		if l == nil {
			return false, errors.New("no leader")
		}
		target := l.Status().CommitIndex
		var first *ledger.StateSummary
		for _, n := range c.Live() {
			if n.Status().CommitIndex < target {
				return false, fmt.Errorf("%s knows commit index %d < leader's %d", n.ID(), n.Status().CommitIndex, target)
			}
			if ok, err := n.CaughtUp(); !ok || err != nil {
				return false, fmt.Errorf("%s has not applied its committed entries (applied %d): %v", n.ID(), n.FSM().AppliedIndex(), err)
			}
		}
		for _, n := range c.Live() {
			s, err := n.FSM().Summary()
			if err != nil {
				return false, err
			}
			if first == nil {
				first = &s
			} else if s.Hash != first.Hash || s.AppliedIndex != first.AppliedIndex {
				return false, fmt.Errorf("%s hash %.12s at %d differs from %.12s at %d", n.ID(), s.Hash, s.AppliedIndex, first.Hash, first.AppliedIndex)
			}
		}
		sum = *first
		return true, nil
	})
	return sum, err
}

// Crash stops node i abruptly (no clean-shutdown marker, no leadership transfer).
func (c *Cluster) Crash(i int) error { return c.stop(i, false) }

// Stop stops node i cleanly.
func (c *Cluster) Stop(i int) error { return c.stop(i, true) }

func (c *Cluster) stop(i int, clean bool) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("node %d is already down", i)
	}
	if clean {
		return n.Close()
	}
	return n.Crash()
}

// Restart starts node i again from its own files, on the same addresses.
func (c *Cluster) Restart(i int) (*ledger.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[i] != nil {
		return nil, fmt.Errorf("node %d is up", i)
	}
	// The node comes back on its own ports. While it was down the kernel may have handed one of them to an
	// outgoing connection as its ephemeral port (both come from the same range); that connection ends soon,
	// so a bind refused with EADDRINUSE is retried for a bounded time rather than failing the restart.
	var n *ledger.Node
	var err error
	for wait, deadline := 10*time.Millisecond, time.Now().Add(restartBindPatience); ; wait = min(2*wait, time.Second) {
		n, err = ledger.Start(c.cfgs[i])
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
		time.Sleep(wait)
	}
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", c.cfgs[i].ID, err)
	}
	c.nodes[i] = n
	return n, nil
}

// restartBindPatience bounds how long Restart retries a bind refused because the port is in use.
const restartBindPatience = 30 * time.Second

// Close stops every live node cleanly and removes the temp dir the cluster made.
func (c *Cluster) Close() error {
	var errs []error
	for i := range c.cfgs {
		c.mu.Lock()
		n := c.nodes[i]
		c.nodes[i] = nil
		c.mu.Unlock()
		if n != nil {
			if err := n.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.ownDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
