package regions

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The fault vocabulary (partitions, cuts, stalls) is package faults'; regions offers proxies, toxics and
// FaultSpec. These helpers build the specs the tests of this package inject.

// partition cuts links in both directions and closes their live connections.
func partition(ctx context.Context, n *Network, links ...LinkID) (*Fault, error) {
	return n.Inject(ctx, FaultSpec{Toxics: each(links, TimeoutToxic(Both, 0)), CloseConnections: true})
}

// partitionOneWay drops the bytes of links in one direction only.
func partitionOneWay(ctx context.Context, n *Network, dir Direction, links ...LinkID) (*Fault, error) {
	if dir == Both {
		return nil, errors.New("partition one way: direction must be Forward or Backward")
	}
	return n.Inject(ctx, FaultSpec{Toxics: each(links, TimeoutToxic(dir, 0))})
}

// cut drops everything from sends to to, whichever of them opened the connection.
func cut(ctx context.Context, n *Network, from, to NodeID) (*Fault, error) {
	var toxics []LinkToxic
	if _, ok := n.Link(LinkID{From: from, To: to}); ok {
		toxics = append(toxics, LinkToxic{Link: LinkID{From: from, To: to}, Toxic: TimeoutToxic(Forward, 0)})
	}
	if _, ok := n.Link(LinkID{From: to, To: from}); ok {
		toxics = append(toxics, LinkToxic{Link: LinkID{From: to, To: from}, Toxic: TimeoutToxic(Backward, 0)})
	}
	if len(toxics) == 0 {
		return nil, fmt.Errorf("cut %s from %s: no link between them: %w", to, from, ErrNotConnected)
	}
	return n.Inject(ctx, FaultSpec{Toxics: toxics})
}

// stall freezes links without losing a byte (a 24 h latency toxic, flushed on heal).
func stall(ctx context.Context, n *Network, links ...LinkID) (*Fault, error) {
	return n.Inject(ctx, FaultSpec{Toxics: each(links, LatencyToxic(Both, 24*time.Hour, 0))})
}

// addToxics puts the same toxics on every one of links.
func addToxics(ctx context.Context, n *Network, toxics []Toxic, links ...LinkID) (*Fault, error) {
	var spec FaultSpec
	for _, t := range toxics {
		spec.Toxics = append(spec.Toxics, each(links, t)...)
	}
	return n.Inject(ctx, spec)
}

func each(links []LinkID, t Toxic) []LinkToxic {
	out := make([]LinkToxic, 0, len(links))
	for _, l := range links {
		out = append(out, LinkToxic{Link: l, Toxic: t})
	}
	return out
}
