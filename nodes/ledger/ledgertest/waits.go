package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"paylab/nodes/ledger"
)

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
		live := c.Live()
		if err := caughtUpTo(live, l.Status().CommitIndex); err != nil {
			return false, err
		}
		s, err := sameState(live)
		if err != nil {
			return false, err
		}
		sum = s
		return true, nil
	})
	return sum, err
}

// caughtUpTo says why some node has not applied every committed entry up to target, or nil.
func caughtUpTo(nodes []*ledger.Node, target uint64) error {
	for _, n := range nodes {
		if n.Status().CommitIndex < target {
			return fmt.Errorf("%s knows commit index %d < leader's %d", n.ID(), n.Status().CommitIndex, target)
		}
		if ok, err := n.CaughtUp(); !ok || err != nil {
			return fmt.Errorf("%s has not applied its committed entries (applied %d): %v", n.ID(), n.FSM().AppliedIndex(), err)
		}
	}
	return nil
}

// sameState is the nodes' common state summary, or why they differ.
func sameState(nodes []*ledger.Node) (ledger.StateSummary, error) {
	var first *ledger.StateSummary
	for _, n := range nodes {
		s, err := n.FSM().Summary()
		if err != nil {
			return ledger.StateSummary{}, err
		}
		if first == nil {
			first = &s
		} else if s.Hash != first.Hash || s.AppliedIndex != first.AppliedIndex {
			return ledger.StateSummary{}, fmt.Errorf("%s hash %.12s at %d differs from %.12s at %d", n.ID(), s.Hash, s.AppliedIndex, first.Hash, first.AppliedIndex)
		}
	}
	if first == nil {
		return ledger.StateSummary{}, errors.New("no live node")
	}
	return *first, nil
}
