package regions

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what a node is.
type Kind string

// The kinds of node the lab places.
const (
	KindLedger  Kind = "ledger"
	KindGateway Kind = "gateway"
	KindRedis   Kind = "redis"
	KindClient  Kind = "client"
)

// NodeID names a node: "kind:region/zone", e.g. "ledger:us-east/a",
// "gateway:eu-west/a", "redis:us-east/a", or "client:us-east" for a region's
// clients (they have no zone). When a zone holds more than one gateway, the
// second and later get ".2", ".3", … ("gateway:us-east/a.2").
type NodeID string

// Node is one part of the system placed in the topology.
type Node struct {
	ID        NodeID
	Kind      Kind
	Placement Placement
}

// LinkID is an ordered pair of nodes: connections opened by From towards To.
// Its text form is "from->to", e.g. "ledger:us-east/a->ledger:us-east/b".
// Bytes From sends travel "forward", bytes To sends back travel "backward".
type LinkID struct {
	From, To NodeID
}

// String returns "from->to".
func (l LinkID) String() string { return string(l.From) + "->" + string(l.To) }

// ParseLinkID reads "from->to".
func ParseLinkID(s string) (LinkID, error) {
	from, to, ok := strings.Cut(s, "->")
	if !ok || from == "" || to == "" {
		return LinkID{}, fmt.Errorf("link %q: want from->to", s)
	}
	return LinkID{From: NodeID(from), To: NodeID(to)}, nil
}

// proxyNameReplacer maps a link's name to one toxiproxy accepts in a URL path
// ("ledger:us-east/a->ledger:us-east/b" → "ledger_us-east.a--ledger_us-east.b").
var proxyNameReplacer = strings.NewReplacer("->", "--", "/", ".", ":", "_")

// ProxyName is the name of the link's proxy in toxiproxy (what its own CLI
// shows): the link's name with '/' as '.', ':' as '_' and "->" as "--".
func (l LinkID) ProxyName() string { return proxyNameReplacer.Replace(l.String()) }

func nodeID(kind Kind, p Placement, n int) NodeID {
	id := string(kind) + ":" + p.String()
	if n > 1 {
		id += fmt.Sprintf(".%d", n)
	}
	return NodeID(id)
}

// LedgerID is the id of the ledger node placed at p ("ledger:region/zone").
func LedgerID(p Placement) NodeID { return nodeID(KindLedger, p, 1) }

// LedgerNodes returns the ledger nodes in the order of ledger.nodes.
func (t Topology) LedgerNodes() []Node {
	out := make([]Node, 0, len(t.Ledger.Nodes))
	for _, p := range t.Ledger.Nodes {
		out = append(out, Node{ID: nodeID(KindLedger, p, 1), Kind: KindLedger, Placement: p})
	}
	return out
}

// GatewayNodes returns a region's gateways: gateway i (from 0) in zone
// i mod len(zones).
func (t Topology) GatewayNodes(region string) []Node {
	r, ok := t.Region(region)
	if !ok || len(r.Zones) == 0 {
		return nil
	}
	out := make([]Node, 0, t.Gateways.PerRegion)
	for i := 0; i < t.Gateways.PerRegion; i++ {
		p := Placement{Region: r.Name, Zone: r.Zones[i%len(r.Zones)]}
		out = append(out, Node{ID: nodeID(KindGateway, p, i/len(r.Zones)+1), Kind: KindGateway, Placement: p})
	}
	return out
}

// RedisNode returns a region's Redis, which sits in its first zone.
func (t Topology) RedisNode(region string) (Node, bool) {
	r, ok := t.Region(region)
	if !ok || len(r.Zones) == 0 {
		return Node{}, false
	}
	p := Placement{Region: r.Name, Zone: r.Zones[0]}
	return Node{ID: nodeID(KindRedis, p, 1), Kind: KindRedis, Placement: p}, true
}

// ClientNode returns the node standing for a region's clients.
func (t Topology) ClientNode(region string) (Node, bool) {
	if _, ok := t.Region(region); !ok {
		return Node{}, false
	}
	p := Placement{Region: region}
	return Node{ID: nodeID(KindClient, p, 1), Kind: KindClient, Placement: p}, true
}

// Nodes returns every node of the topology: ledger nodes, then per region its
// gateways, its Redis and its clients.
func (t Topology) Nodes() []Node {
	out := t.LedgerNodes()
	for _, r := range t.Regions {
		out = append(out, t.GatewayNodes(r.Name)...)
		if n, ok := t.RedisNode(r.Name); ok {
			out = append(out, n)
		}
		if n, ok := t.ClientNode(r.Name); ok {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node called id.
func (t Topology) Node(id NodeID) (Node, bool) {
	for _, n := range t.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// Links returns every link the lab proxies: each ordered pair of ledger
// nodes, every gateway to every ledger node, every gateway to its region's
// Redis, and every region's clients to every gateway.
func (t Topology) Links() []LinkID {
	ledger := t.LedgerNodes()
	var out []LinkID
	for _, a := range ledger {
		for _, b := range ledger {
			if a.ID != b.ID {
				out = append(out, LinkID{From: a.ID, To: b.ID})
			}
		}
	}
	var gateways []Node
	for _, r := range t.Regions {
		gateways = append(gateways, t.GatewayNodes(r.Name)...)
	}
	for _, g := range gateways {
		for _, l := range ledger {
			out = append(out, LinkID{From: g.ID, To: l.ID})
		}
		if redis, ok := t.RedisNode(g.Placement.Region); ok {
			out = append(out, LinkID{From: g.ID, To: redis.ID})
		}
	}
	for _, r := range t.Regions {
		c, _ := t.ClientNode(r.Name)
		for _, g := range gateways {
			out = append(out, LinkID{From: c.ID, To: g.ID})
		}
	}
	return out
}

// LinkLatency is the one-way latency and jitter the matrix gives a link.
func (t Topology) LinkLatency(l LinkID) (oneWay, jitter time.Duration, err error) {
	from, ok := t.Node(l.From)
	if !ok {
		return 0, 0, fmt.Errorf("link %s: no node %s in the topology", l, l.From)
	}
	to, ok := t.Node(l.To)
	if !ok {
		return 0, 0, fmt.Errorf("link %s: no node %s in the topology", l, l.To)
	}
	d := t.OneWay(from.Placement, to.Placement)
	return d, t.JitterFor(d), nil
}
