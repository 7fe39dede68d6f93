package faults

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"paylab/regions"
)

// Target grammars, as the catalogue documents them.
const (
	targetLinks = "a node (ledger:us-east/a), a zone (us-east/a) or a region (us-east): every link crossing its edge; " +
		"or one link (ledger:us-east/a->ledger:us-east/b); several, comma-separated, form one side"
	targetNodes  = "nodes, zones or regions, comma-separated"
	targetNode   = "one node the lab runs (ledger:us-east/a)"
	targetZone   = "a zone (us-east/a)"
	targetRegion = "a region (us-east)"
	targetNone   = "none: the fault finds its own"
	targetDNS    = "none: the lab's DNS server as a whole"
)

// selection is what a target names: a side (the nodes inside the named
// nodes, zones and regions) and explicit links.
type selection struct {
	inside map[regions.NodeID]bool
	links  []regions.LinkID
}

// parseSelection reads a comma-separated target of node ids, zones, regions
// and, when allowLinks, links "from->to", checking each against topo.
func parseSelection(topo regions.Topology, target string, allowLinks bool) (selection, error) {
	sel := selection{inside: map[regions.NodeID]bool{}}
	if strings.TrimSpace(target) == "" {
		return sel, errors.New("a target is required")
	}
	nodes := topo.Nodes()
	for _, term := range strings.Split(target, ",") {
		term = strings.TrimSpace(term)
		switch {
		case term == "":
			return sel, fmt.Errorf("empty item in %q", target)
		case strings.Contains(term, "->"):
			if !allowLinks {
				return sel, fmt.Errorf("%q is a link; this fault takes %s", term, targetNodes)
			}
			id, err := regions.ParseLinkID(term)
			if err != nil {
				return sel, err
			}
			if !slices.Contains(topo.Links(), id) {
				return sel, fmt.Errorf("no link %s in the topology (links join ledger nodes to each other, gateways to ledger nodes and Redis, clients to gateways)", id)
			}
			if !slices.Contains(sel.links, id) {
				sel.links = append(sel.links, id)
			}
		case strings.Contains(term, ":"):
			id := regions.NodeID(term)
			if _, ok := topo.Node(id); !ok {
				return sel, fmt.Errorf("no node %s in the topology", id)
			}
			sel.inside[id] = true
		default:
			p, err := placementOf(topo, term)
			if err != nil {
				return sel, err
			}
			for _, n := range nodes {
				if n.Placement.Region == p.Region && (p.Zone == "" || n.Placement.Zone == p.Zone) {
					sel.inside[n.ID] = true
				}
			}
		}
	}
	return sel, nil
}

// placementOf reads "region" or "region/zone" and checks both exist.
func placementOf(topo regions.Topology, s string) (regions.Placement, error) {
	p, err := regions.ParsePlacement(s)
	if err != nil {
		return p, err
	}
	r, ok := topo.Region(p.Region)
	if !ok {
		return p, fmt.Errorf("no region %q in the topology", p.Region)
	}
	if p.Zone != "" && !slices.Contains(r.Zones, p.Zone) {
		return p, fmt.Errorf("region %q has no zone %q", p.Region, p.Zone)
	}
	return p, nil
}

// parseZone reads a target that must be exactly one zone.
func parseZone(topo regions.Topology, target string) (regions.Placement, error) {
	p, err := placementOf(topo, strings.TrimSpace(target))
	if err != nil {
		return p, err
	}
	if p.Zone == "" {
		return p, fmt.Errorf("%q is a region; this fault takes %s", target, targetZone)
	}
	return p, nil
}

// parseRegions reads a comma-separated list of regions; empty means every
// region when allowAll.
func parseRegions(topo regions.Topology, target string, allowAll bool) ([]string, error) {
	if strings.TrimSpace(target) == "" {
		if !allowAll {
			return nil, fmt.Errorf("a target is required: %s", targetRegion)
		}
		var all []string
		for _, r := range topo.Regions {
			all = append(all, r.Name)
		}
		return all, nil
	}
	var out []string
	for _, term := range strings.Split(target, ",") {
		term = strings.TrimSpace(term)
		if _, ok := topo.Region(term); !ok {
			return nil, fmt.Errorf("no region %q in the topology", term)
		}
		if !slices.Contains(out, term) {
			out = append(out, term)
		}
	}
	return out, nil
}

// requireNoTarget accepts only an empty target.
func requireNoTarget(target string) error {
	if strings.TrimSpace(target) != "" {
		return fmt.Errorf("%q: this fault takes no target (it finds its own)", target)
	}
	return nil
}

// crossing returns the links of topo with one end inside the selection and
// the other outside, then the explicit links, in topology order.
func (s selection) crossing(topo regions.Topology) []regions.LinkID {
	var out []regions.LinkID
	for _, l := range topo.Links() {
		if s.inside[l.From] != s.inside[l.To] {
			out = append(out, l)
		}
	}
	for _, l := range s.links {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// Directions of a link set, relative to the target's side.
const (
	dirBoth = "both"
	dirOut  = "out"
	dirIn   = "in"
)

// direction maps "both", "out" (bytes leaving the target's side) or "in"
// (bytes reaching it) onto link l. For an explicit link, its From end is
// the target's side.
func (s selection) direction(l regions.LinkID, dir string) regions.Direction {
	if dir == dirBoth {
		return regions.Both
	}
	fromInside := s.inside[l.From] || slices.Contains(s.links, l) && !s.inside[l.To]
	if (dir == dirOut) == fromInside {
		return regions.Forward
	}
	return regions.Backward
}

// ledgerNodes returns topo's ledger node ids in order.
func ledgerNodes(topo regions.Topology) []regions.NodeID {
	var out []regions.NodeID
	for _, n := range topo.LedgerNodes() {
		out = append(out, n.ID)
	}
	return out
}
