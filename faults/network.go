package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"paylab/regions"
)

// linkPlan is what a link fault does to the network, decided at inject time
// (a leader-isolation needs to know who leads then).
type linkPlan struct {
	toxics []regions.LinkToxic
	links  []regions.LinkID // for a stall: the links to freeze
	stall  bool             // a stall: stallLatency on every link, both ways
	close  bool             // close live connections through the links at once
	detail string
}

// linkFault is every fault that acts through toxics on the lab's proxies.
// The regions.Fault it holds knows exactly which toxics it added; Heal
// removes those and nothing else.
type linkFault struct {
	name, target string
	plan         func(env Env) (linkPlan, error)

	mu     sync.Mutex
	active *regions.Fault
	detail string
}

func (f *linkFault) Name() string   { return f.name }
func (f *linkFault) Target() string { return f.target }

// Detail says what the last inject acted on.
func (f *linkFault) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.detail
}

// stallLatency is the latency of a stall: long enough to outlast any run. A stall freezes links without
// losing a byte, as a paused (SIGSTOP) process looks to its peers: connections stay open, data waits inside
// the proxy, and on heal toxiproxy flushes everything held, in order, when the latency toxic is removed.
const stallLatency = 24 * time.Hour

// Inject decides the plan, keeps only links the network proxies (a lab
// without gateways has no gateway links), and applies it in one
// regions.Network call, which undoes itself if any step fails.
func (f *linkFault) Inject(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active != nil {
		return fmt.Errorf("inject %s on %q: already injected", f.name, f.target)
	}
	p, err := f.plan(env)
	if err != nil {
		return fmt.Errorf("inject %s on %q: %w", f.name, f.target, err)
	}
	nw := env.Network()
	var rf *regions.Fault
	if p.stall {
		links := slices.DeleteFunc(slices.Clone(p.links), func(l regions.LinkID) bool { _, ok := nw.Link(l); return !ok })
		if len(links) == 0 {
			return fmt.Errorf("inject %s on %q: %w", f.name, f.target, ErrNoLinks)
		}
		toxics := make([]regions.LinkToxic, len(links))
		for i, l := range links {
			toxics[i] = regions.LinkToxic{Link: l, Toxic: regions.LatencyToxic(regions.Both, stallLatency, 0)}
		}
		if rf, err = nw.Inject(ctx, regions.FaultSpec{Toxics: toxics}); err == nil {
			p.detail = joinDetail(p.detail, fmt.Sprintf("%d links stalled", len(links)))
		}
	} else {
		toxics := slices.DeleteFunc(slices.Clone(p.toxics), func(t regions.LinkToxic) bool { _, ok := nw.Link(t.Link); return !ok })
		if len(toxics) == 0 {
			return fmt.Errorf("inject %s on %q: %w", f.name, f.target, ErrNoLinks)
		}
		rf, err = nw.Inject(ctx, regions.FaultSpec{Toxics: toxics, CloseConnections: p.close})
		if err == nil {
			p.detail = joinDetail(p.detail, fmt.Sprintf("%d links", len(rf.Links())))
		}
	}
	if err != nil {
		return fmt.Errorf("inject %s on %q: %w", f.name, f.target, err)
	}
	f.active, f.detail = rf, p.detail
	return nil
}

// Heal removes the toxics Inject added. A failed heal keeps the fault
// active, so healing again retries what is left.
func (f *linkFault) Heal(ctx context.Context, _ Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active == nil {
		return nil
	}
	if err := f.active.Heal(ctx); err != nil {
		return fmt.Errorf("heal %s on %q: %w", f.name, f.target, err)
	}
	f.active = nil
	return nil
}

func joinDetail(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// toxicsOn puts one toxic per link of sel's crossing links, each in the
// direction dir ("both", "out", "in") means for that link.
func toxicsOn(topo regions.Topology, sel selection, dir string, toxic func(regions.Direction) regions.Toxic) []regions.LinkToxic {
	var out []regions.LinkToxic
	for _, l := range sel.crossing(topo) {
		out = append(out, regions.LinkToxic{Link: l, Toxic: toxic(sel.direction(l, dir))})
	}
	return out
}

// newToxicFault builds latency, bandwidth, slicer and reset-peer: one toxic
// type on every link crossing the target's edge.
func newToxicFault(name string, topo regions.Topology, target string, v values, toxic func(regions.Direction) regions.Toxic) (Fault, error) {
	sel, err := parseSelection(topo, target, true)
	if err != nil {
		return nil, targetError(target, err)
	}
	toxicity := float32(v.frac("toxicity"))
	dir := v.str("direction")
	withToxicity := func(d regions.Direction) regions.Toxic {
		return toxic(d).WithToxicity(toxicity)
	}
	toxics := toxicsOn(topo, sel, dir, withToxicity)
	if len(toxics) == 0 {
		return nil, targetError(target, fmt.Errorf("no link crosses its edge"))
	}
	return &linkFault{name: name, target: target, plan: func(Env) (linkPlan, error) {
		return linkPlan{toxics: toxics}, nil
	}}, nil
}

// newPartition cuts every link crossing the target's edge in both
// directions, and closes their live connections so it bites at once.
func newPartition(name string, topo regions.Topology, target string) (Fault, error) {
	sel, err := parseSelection(topo, target, true)
	if err != nil {
		return nil, targetError(target, err)
	}
	toxics := toxicsOn(topo, sel, dirBoth, func(d regions.Direction) regions.Toxic { return regions.TimeoutToxic(d, 0) })
	if len(toxics) == 0 {
		return nil, targetError(target, fmt.Errorf("no link crosses its edge"))
	}
	return &linkFault{name: name, target: target, plan: func(Env) (linkPlan, error) {
		return linkPlan{toxics: toxics, close: true}, nil
	}}, nil
}

// newAsymmetricPartition drops the bytes of the target's links in one
// direction only; the other direction keeps working, live connections too.
func newAsymmetricPartition(topo regions.Topology, target string, v values) (Fault, error) {
	sel, err := parseSelection(topo, target, true)
	if err != nil {
		return nil, targetError(target, err)
	}
	toxics := toxicsOn(topo, sel, v.str("direction"), func(d regions.Direction) regions.Toxic { return regions.TimeoutToxic(d, 0) })
	if len(toxics) == 0 {
		return nil, targetError(target, fmt.Errorf("no link crosses its edge"))
	}
	return &linkFault{name: "asymmetric-partition", target: target, plan: func(Env) (linkPlan, error) {
		return linkPlan{toxics: toxics}, nil
	}}, nil
}

// newPause stalls every link of the target without losing a byte.
func newPause(topo regions.Topology, target string) (Fault, error) {
	sel, err := parseSelection(topo, target, false)
	if err != nil {
		return nil, targetError(target, err)
	}
	links := sel.crossing(topo)
	if len(links) == 0 {
		return nil, targetError(target, fmt.Errorf("no link crosses its edge"))
	}
	return &linkFault{name: "pause", target: target, plan: func(Env) (linkPlan, error) {
		return linkPlan{links: links, stall: true}, nil
	}}, nil
}

// cutBetween cuts every ledger link between sides a and b, both directions.
func cutBetween(a, b []regions.NodeID) []regions.LinkToxic {
	var out []regions.LinkToxic
	for _, x := range a {
		for _, y := range b {
			out = append(out,
				regions.LinkToxic{Link: regions.LinkID{From: x, To: y}, Toxic: regions.TimeoutToxic(regions.Both, 0)},
				regions.LinkToxic{Link: regions.LinkID{From: y, To: x}, Toxic: regions.TimeoutToxic(regions.Both, 0)})
		}
	}
	return out
}

func without(all []regions.NodeID, drop ...regions.NodeID) []regions.NodeID {
	return slices.DeleteFunc(slices.Clone(all), func(n regions.NodeID) bool { return slices.Contains(drop, n) })
}

func names(ids []regions.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return "{" + strings.Join(s, ", ") + "}"
}

// newMajorityMinority splits the ledger nodes into a minority of
// ⌊(n−1)/2⌋ and the rest, cutting every ledger link between the sides.
// Gateway links stay up: a gateway that reaches a minority node finds it
// unable to commit, as in a real split.
func newMajorityMinority(topo regions.Topology, target string, v values) (Fault, error) {
	ledger := ledgerNodes(topo)
	k := (len(ledger) - 1) / 2
	if k < 1 {
		return nil, fmt.Errorf("needs at least 3 ledger nodes, the topology has %d", len(ledger))
	}
	var fixed []regions.NodeID
	if strings.TrimSpace(target) != "" {
		if v.given["leader"] {
			return nil, fmt.Errorf("parameter leader: only without a target (the target names the minority)")
		}
		sel, err := parseSelection(topo, target, false)
		if err != nil {
			return nil, targetError(target, err)
		}
		for _, n := range ledger {
			if sel.inside[n] {
				fixed = append(fixed, n)
			}
		}
		if len(fixed) < 1 || len(fixed) > k {
			return nil, targetError(target, fmt.Errorf("holds %d ledger nodes; a minority of %d ledger nodes is 1 to %d", len(fixed), len(ledger), k))
		}
	}
	leaderSide := v.str("leader")
	return &linkFault{name: "majority-minority", target: target, plan: func(env Env) (linkPlan, error) {
		minority := fixed
		if minority == nil {
			leader, ok := env.LeaderNode()
			if !ok {
				return linkPlan{}, ErrNoLeader
			}
			if leaderSide == "minority" {
				minority = append([]regions.NodeID{leader}, without(ledger, leader)[:k-1]...)
			} else {
				minority = without(ledger, leader)[:k]
			}
		}
		majority := without(ledger, minority...)
		return linkPlan{toxics: cutBetween(minority, majority), close: true,
			detail: fmt.Sprintf("minority %s, majority %s", names(minority), names(majority))}, nil
	}}, nil
}

// newBridge splits the ledger nodes other than the bridge into two halves
// that cannot reach each other; the bridge reaches both.
func newBridge(topo regions.Topology, target string) (Fault, error) {
	ledger := ledgerNodes(topo)
	if len(ledger) < 3 {
		return nil, fmt.Errorf("needs at least 3 ledger nodes, the topology has %d", len(ledger))
	}
	var fixed regions.NodeID
	if strings.TrimSpace(target) != "" {
		sel, err := parseSelection(topo, target, false)
		if err != nil {
			return nil, targetError(target, err)
		}
		var in []regions.NodeID
		for _, n := range ledger {
			if sel.inside[n] {
				in = append(in, n)
			}
		}
		if len(in) != 1 {
			return nil, targetError(target, fmt.Errorf("holds %d ledger nodes, want exactly one (the bridge)", len(in)))
		}
		fixed = in[0]
	}
	return &linkFault{name: "bridge", target: target, plan: func(env Env) (linkPlan, error) {
		bridge := fixed
		if bridge == "" {
			bridge = ledger[0]
			if leader, ok := env.LeaderNode(); ok && leader == bridge {
				bridge = ledger[1]
			}
		}
		others := without(ledger, bridge)
		a, b := others[:len(others)/2], others[len(others)/2:]
		return linkPlan{toxics: cutBetween(a, b), close: true,
			detail: fmt.Sprintf("bridge %s between %s and %s", bridge, names(a), names(b))}, nil
	}}, nil
}

// newMajoritiesRing is Jepsen's majorities ring over the ledger nodes in
// topology order: for each run of m = ⌊n/2⌋+1 consecutive nodes (cyclic),
// its middle node hears only that run; so every node hears a majority and
// no two hear the same one. "x hears nothing from y" drops y's bytes to x
// on both links between them, whoever dialled.
func newMajoritiesRing(topo regions.Topology) (Fault, error) {
	ledger := ledgerNodes(topo)
	n := len(ledger)
	if n < 3 {
		return nil, fmt.Errorf("needs at least 3 ledger nodes, the topology has %d", n)
	}
	m := n/2 + 1
	var toxics []regions.LinkToxic
	var grudges []string
	for i := range n {
		run := make([]regions.NodeID, m)
		for j := range m {
			run[j] = ledger[(i+j)%n]
		}
		x := run[m/2]
		deaf := without(ledger, run...)
		for _, y := range deaf {
			toxics = append(toxics,
				regions.LinkToxic{Link: regions.LinkID{From: y, To: x}, Toxic: regions.TimeoutToxic(regions.Forward, 0)},
				regions.LinkToxic{Link: regions.LinkID{From: x, To: y}, Toxic: regions.TimeoutToxic(regions.Backward, 0)})
		}
		grudges = append(grudges, fmt.Sprintf("%s hears %s", x, names(run)))
	}
	return &linkFault{name: "majorities-ring", plan: func(Env) (linkPlan, error) {
		return linkPlan{toxics: toxics, detail: strings.Join(grudges, "; ")}, nil
	}}, nil
}

// newLeaderIsolation partitions whoever leads at inject time from every
// node it has a link with (peers and gateways), both directions.
func newLeaderIsolation(topo regions.Topology) Fault {
	return &linkFault{name: "leader-isolation", plan: func(env Env) (linkPlan, error) {
		leader, ok := env.LeaderNode()
		if !ok {
			return linkPlan{}, ErrNoLeader
		}
		sel := selection{inside: map[regions.NodeID]bool{leader: true}}
		return linkPlan{
			toxics: toxicsOn(topo, sel, dirBoth, func(d regions.Direction) regions.Toxic { return regions.TimeoutToxic(d, 0) }),
			close:  true, detail: fmt.Sprintf("isolated leader %s", leader),
		}, nil
	}}
}

func targetError(target string, err error) error {
	return &TargetError{Target: target, Err: err}
}
