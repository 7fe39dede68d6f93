package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"paylab/assertions"
	"paylab/nodes/ledger/client"
	"paylab/regions"
	"paylab/results"
)

// The end of a run: the final recovery brings back every ledger node a fault left down, then the replicas
// are given time to converge and exported for the checkers.

// finalRecovery restarts every ledger node that is down at the end of the run — its process crashed and a
// heal did not bring it back, or its links are still marked down — as Jepsen's final recovery does: the
// node starts from its own files, so every run that crashed a node audits its crash-recovery path, and the
// checkers see every replica. Each restart, or its failure, is recorded as a "final-recovery" event; the
// nodes restarted are returned. A node that fails to start stays down and its replica unreadable (the money
// and convergence checkers are then unknown, naming it).
func (l *Lab) finalRecovery(ctx context.Context, out io.Writer) []regions.NodeID {
	var restarted []regions.NodeID
	for _, id := range l.LedgerNodes() {
		l.mu.Lock()
		n, err := l.ledger(id)
		down := err == nil && n.node == nil
		l.mu.Unlock()
		if !down && !l.nw.IsDown(id) {
			continue
		}
		detail := "restarted from its own files before the export (final recovery)"
		if err := l.RestartNode(ctx, id); err != nil {
			detail = "final recovery failed, the node stays down: " + err.Error()
		} else {
			restarted = append(restarted, id)
		}
		fmt.Fprintf(out, "  %s: %s\n", id, detail)
		l.Record(results.Event{At: l.Elapsed(), Kind: results.EventNote, Name: "final-recovery", Target: string(id), Detail: detail})
	}
	return restarted
}

// noteCaughtUp records, for each node finalRecovery restarted, whether it caught up with the others before
// the export (waitConverged's condition) and at which applied index.
func (l *Lab) noteCaughtUp(restarted []regions.NodeID, converged bool, within time.Duration) {
	for _, id := range restarted {
		l.mu.Lock()
		var applied uint64
		if n, err := l.ledger(id); err == nil && n.node != nil {
			applied = n.node.FSM().AppliedIndex()
		}
		l.mu.Unlock()
		detail := fmt.Sprintf("caught up: the replicas met at applied index %d", applied)
		if !converged {
			detail = fmt.Sprintf("the replicas did not meet within %v (this node at applied index %d)", within, applied)
		}
		l.Record(results.Event{At: l.Elapsed(), Kind: results.EventNote, Name: "final-recovery", Target: string(id), Detail: detail})
	}
}

// exportConverged waits for the replicas to converge and exports them, until the exports were taken at one
// applied index or within passes (then the last exports are returned, and false). A request still in
// flight in a gateway when the load ended can commit after the replicas met: the leader applies it before
// the followers hear of the commit, and exports taken then differ for that reason alone.
func (l *Lab) exportConverged(ctx context.Context, within time.Duration) (bool, []assertions.Replica) {
	deadline := time.Now().Add(within)
	for {
		converged := l.waitConverged(ctx, time.Until(deadline))
		reps := l.exportReplicas()
		if converged && sameAppliedIndex(reps) {
			return true, reps
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false, reps
		}
		client.Sleep(ctx, 20*time.Millisecond)
	}
}

// sameAppliedIndex reports whether the readable replicas were read at one applied index (a replica that
// could not be read is the checkers' to report; waiting does not bring it back).
func sameAppliedIndex(reps []assertions.Replica) bool {
	var at uint64
	n := 0
	for i := range reps {
		if !reps[i].Readable() {
			continue
		}
		if n > 0 && reps[i].AppliedIndex != at {
			return false
		}
		at = reps[i].AppliedIndex
		n++
	}
	return n > 0
}

// waitConverged polls the live replicas until they have applied the same index with equal state hashes,
// or until within passes.
func (l *Lab) waitConverged(ctx context.Context, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if l.converged() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		client.Sleep(ctx, 20*time.Millisecond)
	}
}

func (l *Lab) converged() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Cheap checks first: every live replica caught up, all at one applied index. Only then hash the
	// states, which reads every record.
	var live []*ledgerNode
	for _, n := range l.ledgerNodes() {
		if n.node == nil {
			continue
		}
		if ok, err := n.node.CaughtUp(); !ok || err != nil {
			return false
		}
		if len(live) > 0 && n.node.FSM().AppliedIndex() != live[0].node.FSM().AppliedIndex() {
			return false
		}
		live = append(live, n)
	}
	if len(live) == 0 {
		return false
	}
	var first string
	for i, n := range live {
		sum, err := n.node.FSM().Summary()
		if err != nil {
			return false
		}
		if i == 0 {
			first = sum.Hash
		} else if sum.Hash != first {
			return false
		}
	}
	return true
}

// exportReplicas reads every ledger node's final state through the ledger's export format. A node that
// is down is reported as not live with an error.
func (l *Lab) exportReplicas() []assertions.Replica {
	l.mu.Lock()
	nodes := l.ledgerNodes()
	l.mu.Unlock()
	var out []assertions.Replica
	for _, n := range nodes {
		l.mu.Lock()
		node := n.node
		l.mu.Unlock()
		if node == nil {
			out = append(out, assertions.Replica{Node: n.name, Err: errors.New("node is down")})
			continue
		}
		var buf bytes.Buffer
		err := node.FSM().Export(&buf, n.name)
		rep, perr := assertions.ReadReplica(&buf)
		if err == nil {
			err = perr
		}
		if err != nil {
			rep = assertions.Replica{Node: n.name, Err: err}
		}
		rep.Live = true
		out = append(out, rep)
	}
	return out
}
