// Package cluster starts, crashes, restarts and stops the nodes of a ledger cluster. Cluster is the verbs
// every caller shares — the lab, `paylab bench` and the fault tests — and Local is the implementation that
// runs the nodes in this process (real raft, bbolt files and TCP on loopback). A second implementation that
// runs each node as a child process answers the same verbs through the node's HTTP API and a process handle;
// what only an in-process node can give (its *ledger.Node) stays on Local.
//
// Nodes are named by their raft ids. Node addresses never change: a restarted node comes back on the ports it
// first got, so peers' raft configuration, proxies and clients stay valid.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"paylab/nodes/ledger"
)

// Cluster is a running ledger cluster whose nodes can be crashed, restarted and stopped one at a time. Its
// methods are safe for concurrent use; none holds a lock across a node's start or stop.
type Cluster interface {
	// Nodes lists every node id, up or down, in start order.
	Nodes() []string
	// Live lists the ids of the nodes that are up, in start order.
	Live() []string
	// Leader is the node that is a ready leader (it has applied its term's barrier) and its term.
	Leader() (id string, term uint64, ok bool)
	// Status is one live node's raft view (ErrDown while it is down).
	Status(id string) (ledger.NodeStatus, error)
	// HTTPAddr is a node's API address (host:port), up or down.
	HTTPAddr(id string) (string, error)
	// RaftAddr is a live node's raft address (ErrDown while it is down).
	RaftAddr(id string) (string, error)
	// Crash stops a node abruptly, as a killed process: no leadership transfer, no clean-shutdown marker.
	Crash(ctx context.Context, id string) error
	// Stop stops a node cleanly.
	Stop(ctx context.Context, id string) error
	// Restart starts a stopped or crashed node again from its own files, on the same addresses.
	Restart(ctx context.Context, id string) error
	// TransferLeadership asks the leader from to hand leadership to the node to (raft's leadership transfer)
	// and returns when the transfer finished or failed.
	TransferLeadership(ctx context.Context, from, to string) error
	// Close stops every node that is up, cleanly, and waits for the restarts under way (each then stops the
	// node it started).
	Close() error
}

// Errors of the cluster's verbs; they come wrapped with the node's id.
var (
	// ErrUnknownNode: no node has that id.
	ErrUnknownNode = errors.New("no such ledger node")
	// ErrUp: the node is up, or a restart of it is under way.
	ErrUp = errors.New("already up")
	// ErrDown: the node is down.
	ErrDown = errors.New("already down")
	// ErrClosed: the cluster is closing or closed.
	ErrClosed = errors.New("cluster closed")
	// ErrNoLeader: no node led before the wait ended.
	ErrNoLeader = errors.New("no leader elected")
)

// pollEvery is how often the waits below look at the cluster.
const pollEvery = 5 * time.Millisecond

// WaitLeader waits until some live node of c is a ready leader and returns its id.
func WaitLeader(ctx context.Context, c Cluster) (string, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if id, _, ok := c.Leader(); ok {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-t.C:
		}
	}
}

// URLs maps every node's id to its API base URL ("http://host:port"), for clients.
func URLs(c Cluster) map[string]string {
	out := map[string]string{}
	for _, id := range c.Nodes() {
		if addr, err := c.HTTPAddr(id); err == nil {
			out[id] = "http://" + addr
		}
	}
	return out
}

// MaxTerm is the highest raft term any live node knows.
func MaxTerm(c Cluster) uint64 {
	var t uint64
	for _, id := range c.Live() {
		if st, err := c.Status(id); err == nil {
			t = max(t, st.Term)
		}
	}
	return t
}
