package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"paylab/nodes/ledger"
)

// Options configure a Local cluster.
type Options struct {
	// IDs names the nodes, in start order; empty means Nodes nodes named n1, n2, ….
	IDs []string
	// Nodes is the cluster size when IDs is empty (default 3).
	Nodes int
	// Dir is where node directories go (Dir/<id>); empty means a new temp dir that Close removes.
	Dir string
	// Configure, when set, adjusts each node's configuration before its first start (i is its position).
	Configure func(i int, c *ledger.Config)
	// Listen, when set, gives a node its raft stream layer, before its first start and before every restart
	// (the ledger closes its layer when it stops): the lab's network listens again on the node's address.
	// When nil, raft uses plain TCP on the node's RaftAddr.
	Listen func(id string) (raft.StreamLayer, error)
	// Wire, when set, runs once every node has started and before the cluster is bootstrapped: the place to
	// register the nodes' addresses with a network and create its proxies.
	Wire func(ctx context.Context, c *Local) error
}

// Local is a ledger cluster whose nodes run in this process. It implements Cluster.
type Local struct {
	opts   Options
	dir    string
	ownDir bool
	ids    []string // fixed at Start

	mu       sync.Mutex
	closing  bool
	members  map[string]*member
	restarts sync.WaitGroup // restarts under way; Close waits for them before it removes the temp dir
}

var _ Cluster = (*Local)(nil)

// member is one node and what is needed to start it again.
type member struct {
	cfg  ledger.Config // ports pinned after the first start; StreamLayer from Options.Listen on every start
	node *ledger.Node  // nil while down
	// starting: a restart is under way outside the cluster's lock (ledger.Start replays the log and can take
	// a while; holding the lock across it would stall every reader of the cluster).
	starting bool
}

// Start creates and starts the nodes, runs Options.Wire, bootstraps the cluster and waits until it has a
// leader. On error everything already started is stopped.
func Start(ctx context.Context, opts Options) (c *Local, err error) {
	c = &Local{opts: opts, dir: opts.Dir, ids: nodeIDs(opts), members: map[string]*member{}}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "paylab-ledger-"); err != nil {
			return nil, fmt.Errorf("cluster temp dir: %w", err)
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	var servers []ledger.Server
	for i, id := range c.ids {
		node, err := c.startFirst(ctx, i, id)
		if err != nil {
			return nil, err
		}
		servers = append(servers, ledger.Server{ID: id, RaftAddr: node.RaftAddr()})
	}
	if opts.Wire != nil {
		if err := opts.Wire(ctx, c); err != nil {
			return nil, err
		}
	}
	for _, id := range c.ids {
		if err := c.Node(id).Bootstrap(servers); err != nil {
			return nil, err
		}
	}
	if _, err := WaitLeader(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// nodeIDs is the node ids Options ask for.
func nodeIDs(opts Options) []string {
	if len(opts.IDs) > 0 {
		return slices.Clone(opts.IDs)
	}
	return DefaultIDs(opts.Nodes)
}

// DefaultIDs names n nodes n1, n2, … (3 when n is 0).
func DefaultIDs(n int) []string {
	if n == 0 {
		n = 3
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return ids
}

// startFirst configures and starts node i for the first time, then pins its addresses for restarts.
func (c *Local) startFirst(ctx context.Context, i int, id string) (*ledger.Node, error) {
	cfg := ledger.DefaultConfig()
	cfg.ID = id
	cfg.Dir = filepath.Join(c.dir, id)
	if c.opts.Configure != nil {
		c.opts.Configure(i, &cfg)
	}
	node, err := c.startNode(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", id, err)
	}
	if cfg.StreamLayer == nil && c.opts.Listen == nil {
		cfg.RaftAddr = node.RaftAddr()
	}
	cfg.HTTPAddr = node.HTTPAddr()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[id] = &member{cfg: cfg, node: node}
	return node, nil
}

// startNode starts a node from cfg (with a stream layer from Options.Listen). A node coming back on its own
// ports may find one taken: while it was down the kernel may have handed it to an outgoing connection as its
// ephemeral port (both come from the same range). That connection ends soon, so a bind refused with
// EADDRINUSE is retried for a bounded time rather than failing the start.
func (c *Local) startNode(ctx context.Context, cfg ledger.Config) (*ledger.Node, error) {
	wait, deadline := 10*time.Millisecond, time.Now().Add(bindPatience)
	for {
		node, err := c.startOnce(cfg)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return node, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// bindPatience bounds how long startNode retries a bind refused because the port is in use.
const bindPatience = 30 * time.Second

func (c *Local) startOnce(cfg ledger.Config) (*ledger.Node, error) {
	var layer raft.StreamLayer
	if c.opts.Listen != nil {
		var err error
		if layer, err = c.opts.Listen(cfg.ID); err != nil {
			return nil, err
		}
		cfg.StreamLayer = layer
	}
	node, err := ledger.Start(cfg)
	if err != nil && layer != nil {
		_ = layer.Close()
	}
	return node, err
}

// member is the node with that id; call with c.mu held.
func (c *Local) memberLocked(id string) (*member, error) {
	if m, ok := c.members[id]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("%s: %w", id, ErrUnknownNode)
}

// Dir is the directory holding the node directories.
func (c *Local) Dir() string { return c.dir }

// Nodes implements Cluster.
func (c *Local) Nodes() []string { return slices.Clone(c.ids) }

// Node is the running node with that id, or nil while it is down (or unknown).
func (c *Local) Node(id string) *ledger.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.members[id]; ok {
		return m.node
	}
	return nil
}

// Config is the configuration the node runs with (ports pinned after its first start; no stream layer).
func (c *Local) Config(id string) (ledger.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.memberLocked(id)
	if err != nil {
		return ledger.Config{}, err
	}
	return m.cfg, nil
}

// Live implements Cluster.
func (c *Local) Live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if m := c.members[id]; m != nil && m.node != nil {
			out = append(out, id)
		}
	}
	return out
}

// Leader implements Cluster.
func (c *Local) Leader() (string, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.ids {
		if m := c.members[id]; m != nil && m.node != nil && m.node.IsLeader() {
			return id, m.node.Term(), true
		}
	}
	return "", 0, false
}

// live is the running node with that id, or ErrDown / ErrUnknownNode.
func (c *Local) live(id string) (*ledger.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.memberLocked(id)
	if err != nil {
		return nil, err
	}
	if m.node == nil {
		return nil, fmt.Errorf("%s: %w", id, ErrDown)
	}
	return m.node, nil
}

// Status implements Cluster.
func (c *Local) Status(id string) (ledger.NodeStatus, error) {
	n, err := c.live(id)
	if err != nil {
		return ledger.NodeStatus{}, err
	}
	return n.Status(), nil
}

// HTTPAddr implements Cluster.
func (c *Local) HTTPAddr(id string) (string, error) {
	cfg, err := c.Config(id)
	return cfg.HTTPAddr, err
}

// RaftAddr implements Cluster.
func (c *Local) RaftAddr(id string) (string, error) {
	n, err := c.live(id)
	if err != nil {
		return "", err
	}
	return n.RaftAddr(), nil
}

// TransferLeadership implements Cluster.
func (c *Local) TransferLeadership(_ context.Context, from, to string) error {
	leader, err := c.live(from)
	if err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	target, err := c.live(to)
	if err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return leader.TransferLeadership(to, target.RaftAddr())
}

// Crash implements Cluster.
func (c *Local) Crash(_ context.Context, id string) error { return c.stop(id, false) }

// Stop implements Cluster.
func (c *Local) Stop(_ context.Context, id string) error { return c.stop(id, true) }

func (c *Local) stop(id string, clean bool) error {
	c.mu.Lock()
	m, err := c.memberLocked(id)
	var node *ledger.Node
	if err == nil {
		node, m.node = m.node, nil
	}
	c.mu.Unlock()
	switch {
	case err != nil:
		return err
	case node == nil:
		return fmt.Errorf("stop %s: %w", id, ErrDown)
	case clean:
		return node.Close()
	}
	return node.Crash()
}

// Restart implements Cluster. The lock is held only to claim the node and to install it, not across
// ledger.Start.
func (c *Local) Restart(ctx context.Context, id string) error {
	m, err := c.claim(id)
	if err != nil {
		return err
	}
	defer c.restarts.Done()
	node, err := c.startNode(ctx, m.cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	m.starting = false
	if err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	if c.closing {
		return errors.Join(fmt.Errorf("restart %s: %w meanwhile", id, ErrClosed), node.Close())
	}
	m.node = node
	return nil
}

// claim marks a down node as starting, counts the restart, and returns the node.
func (c *Local) claim(id string) (*member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.memberLocked(id)
	switch {
	case err != nil:
		return nil, err
	case c.closing:
		return nil, fmt.Errorf("restart %s: %w", id, ErrClosed)
	case m.node != nil || m.starting:
		return nil, fmt.Errorf("restart %s: %w", id, ErrUp)
	}
	m.starting = true
	c.restarts.Add(1)
	return m, nil
}

// Close implements Cluster, and removes the temp dir the cluster made once the restarts under way have
// finished (each stops the node it started).
func (c *Local) Close() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	var errs []error
	for _, id := range c.ids {
		c.mu.Lock()
		var node *ledger.Node
		if m := c.members[id]; m != nil {
			node, m.node = m.node, nil
		}
		c.mu.Unlock()
		if node != nil {
			if err := node.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.restarts.Wait()
	if c.ownDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
