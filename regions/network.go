package regions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"paylab/loopback"
)

// Errors a Network returns; match them with errors.Is.
var (
	ErrClosed       = errors.New("network closed")
	ErrUnknownNode  = errors.New("unknown node")
	ErrUnknownLink  = errors.New("unknown link")
	ErrNotLoopback  = loopback.ErrNotLoopback
	ErrNotConnected = errors.New("link has no proxy yet")
)

// entryPortAttempts bounds the search for a port free on every region's
// entry address.
const entryPortAttempts = 8

// NetworkOptions configures a Network.
type NetworkOptions struct {
	// ToxiproxyURL is an external toxiproxy-server's API ("http://127.0.0.1:8474",
	// usually from TOXIPROXY_URL). Empty starts an embedded one on a free
	// loopback port. Either way it must be on 127.0.0.0/8 (or "localhost").
	ToxiproxyURL string
}

// Network is the lab's network: one toxiproxy (embedded or external) with a
// named proxy for every link, the matrix latency on each, and the verbs
// faults use to break links and heal them. A Network is safe for concurrent
// use. Close removes every proxy it created.
type Network struct {
	topo      Topology
	client    *toxiclient.Client
	apiAddr   string
	entryPort int

	embedded  *http.Server  // nil for an external toxiproxy
	serveDone chan struct{} // closed when the embedded API server returns

	mu     sync.Mutex
	closed bool
	addrs  map[NodeID]string // where each registered node really listens
	// service holds addresses that links from one kind of node use instead of addrs: a ledger node's
	// raft port is its main address, its HTTP API the one gateways reach.
	service   map[NodeID]map[Kind]string
	links     map[LinkID]*link
	faults    map[*Fault]struct{}
	faultSeq  int
	listeners map[NodeID]*StreamLayer // each ledger node's current raft layer, closed by Close
	// down holds the nodes the lab has reported down (NodeDown): the proxies of links towards them are
	// disabled, so new connections are refused as by a dead process's port.
	down map[NodeID]bool
	// entries are the regions' entry points (load balancers), started by Connect once a region's client
	// links to all its gateways exist.
	entries map[string]*entryPoint
}

// link is one proxied link and its toxiproxy handle.
type link struct {
	info  Link
	proxy *toxiclient.Proxy
}

// Link describes one proxied link.
type Link struct {
	ID       LinkID
	Proxy    string        // the proxy's name in toxiproxy
	Listen   string        // where the From node connects (the proxy)
	Upstream string        // where the To node really listens
	OneWay   time.Duration // matrix latency, applied to each direction
	Jitter   time.Duration
}

// NewNetwork validates topo and starts (or connects to) the lab's toxiproxy.
func NewNetwork(ctx context.Context, topo Topology, opts NetworkOptions) (*Network, error) {
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("new network: invalid topology: %w", err)
	}
	n := &Network{
		topo:   topo,
		addrs:  map[NodeID]string{},
		links:  map[LinkID]*link{},
		faults: map[*Fault]struct{}{},

		listeners: map[NodeID]*StreamLayer{},
		down:      map[NodeID]bool{},
		entries:   map[string]*entryPoint{},
	}
	if opts.ToxiproxyURL != "" {
		u, err := url.Parse(opts.ToxiproxyURL)
		if err != nil {
			return nil, fmt.Errorf("new network: toxiproxy url %q: %w", opts.ToxiproxyURL, err)
		}
		if err := checkLoopbackHost(u.Hostname()); err != nil {
			return nil, fmt.Errorf("new network: toxiproxy url %q: %w", opts.ToxiproxyURL, err)
		}
		n.apiAddr = u.Host
		n.client = toxiclient.NewClient(opts.ToxiproxyURL)
	} else if err := n.startEmbedded(); err != nil {
		return nil, err
	}
	if _, err := n.client.Version(); err != nil {
		n.stopEmbedded()
		return nil, fmt.Errorf("new network: reach toxiproxy at %s: %w", n.apiAddr, err)
	}
	port, err := freeEntryPort(ctx, topo)
	if err != nil {
		n.stopEmbedded()
		return nil, err
	}
	n.entryPort = port
	return n, nil
}

// startEmbedded serves an in-process toxiproxy API on a free loopback port.
func (n *Network) startEmbedded() error {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("new network: listen for embedded toxiproxy: %w", err)
	}
	n.embedded = &http.Server{Handler: srv.Routes(), ReadHeaderTimeout: 10 * time.Second}
	n.serveDone = make(chan struct{})
	n.apiAddr = ln.Addr().String()
	n.client = toxiclient.NewClient("http://" + n.apiAddr)
	go func() {
		defer close(n.serveDone)
		_ = n.embedded.Serve(ln) // returns ErrServerClosed on Close
	}()
	return nil
}

func (n *Network) stopEmbedded() {
	if n.embedded == nil {
		return
	}
	_ = n.embedded.Close()
	<-n.serveDone
}

// freeEntryPort finds a port that is free on every region's entry address,
// so that "pay.lab:PORT" reaches whichever region DNS answers with.
func freeEntryPort(ctx context.Context, topo Topology) (int, error) {
	var lastErr error
	for range entryPortAttempts {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("choose entry port: %w", err)
		}
		var held []net.Listener
		port := 0
		ok := true
		for _, r := range topo.Regions {
			ip, _ := topo.EntryIP(r.Name)
			ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, uint16(port)).String())
			if err != nil {
				lastErr = err
				ok = false
				break
			}
			held = append(held, ln)
			port = ln.Addr().(*net.TCPAddr).Port
		}
		for _, ln := range held {
			_ = ln.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("choose entry port free on every 127.0.1.N: %w", lastErr)
}

// Topology returns the topology the network was built for.
func (n *Network) Topology() Topology { return n.topo }

// ToxiproxyAddr is the toxiproxy API's host:port (for its own CLI:
// `toxiproxy-cli -h ADDR list`).
func (n *Network) ToxiproxyAddr() string { return n.apiAddr }

// EntryPort is the port every region's entry point listens on.
func (n *Network) EntryPort() int { return n.entryPort }

// EntryAddr is a region's entry point, "127.0.1.N:PORT": a load balancer
// across the region's gateways (see Connect). The lab DNS answers pay.lab.
// with the IP part.
func (n *Network) EntryAddr(region string) (string, bool) {
	ip, ok := n.topo.EntryIP(region)
	if !ok {
		return "", false
	}
	return netip.AddrPortFrom(ip, uint16(n.entryPort)).String(), true
}

// Register records where a node really listens (a loopback host:port). Links
// towards it are proxied to that address.
func (n *Network) Register(id NodeID, addr string) error {
	if _, ok := n.topo.Node(id); !ok {
		return fmt.Errorf("register %s: %w", id, ErrUnknownNode)
	}
	if err := checkLoopbackAddr(addr); err != nil {
		return fmt.Errorf("register %s at %s: %w", id, addr, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("register %s: %w", id, ErrClosed)
	}
	if old, ok := n.addrs[id]; ok && old != addr {
		return fmt.Errorf("register %s at %s: already registered at %s", id, addr, old)
	}
	n.addrs[id] = addr
	return nil
}

// RegisterFor records a second address of a node, used by links that come from nodes of kind from:
// a ledger node listens for raft on its main address and for its HTTP API on another, which is what
// gateway→ledger links must reach.
func (n *Network) RegisterFor(id NodeID, from Kind, addr string) error {
	if _, ok := n.topo.Node(id); !ok {
		return fmt.Errorf("register %s for %s: %w", id, from, ErrUnknownNode)
	}
	if err := checkLoopbackAddr(addr); err != nil {
		return fmt.Errorf("register %s for %s at %s: %w", id, from, addr, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("register %s: %w", id, ErrClosed)
	}
	if old, ok := n.service[id][from]; ok && old != addr {
		return fmt.Errorf("register %s for %s at %s: already registered at %s", id, from, addr, old)
	}
	if n.service == nil {
		n.service = map[NodeID]map[Kind]string{}
	}
	if n.service[id] == nil {
		n.service[id] = map[Kind]string{}
	}
	n.service[id][from] = addr
	return nil
}

// upstreamLocked is where a link's proxy forwards to: the address registered for links from the
// link's source kind, else the node's main address.
func (n *Network) upstreamLocked(id LinkID) (string, bool) {
	if from, ok := n.topo.Node(id.From); ok {
		if addr, ok := n.service[id.To][from.Kind]; ok {
			return addr, true
		}
	}
	addr, ok := n.addrs[id.To]
	return addr, ok
}

// Connect creates a proxy for every link of the topology whose target node
// is registered and that has none yet, each with the matrix latency (the
// dialling side needs no address: clients never register), and starts each
// region's entry point once the links from the region's clients to all of its
// gateways exist. It can be called again after more nodes register.
//
// A region's entry point is the lab's regional load balancer: it listens on
// EntryAddr, spans all the region's zones (no single zone takes it down), and
// hands each connection to the region's gateways in turn through the region's
// own client links, skipping a gateway whose link refuses. It refuses
// connections itself while every gateway of the region is down (NodeDown).
func (n *Network) Connect(ctx context.Context) error {
	for _, id := range n.topo.Links() {
		n.mu.Lock()
		_, done := n.links[id]
		_, ready := n.upstreamLocked(id)
		n.mu.Unlock()
		if done || !ready {
			continue
		}
		if _, err := n.AddLink(ctx, id); err != nil {
			return err
		}
	}
	return n.startEntries()
}

// startEntries starts the entry point of every region whose client links to
// all its gateways exist and that has none yet.
func (n *Network) startEntries() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("start entry points: %w", ErrClosed)
	}
	for _, r := range n.topo.Regions {
		if _, ok := n.entries[r.Name]; ok {
			continue
		}
		client, _ := n.topo.ClientNode(r.Name)
		var backends []entryBackend
		for _, g := range n.topo.GatewayNodes(r.Name) {
			l, ok := n.links[LinkID{From: client.ID, To: g.ID}]
			if !ok {
				backends = nil
				break
			}
			backends = append(backends, entryBackend{gateway: g.ID, addr: l.info.Listen})
		}
		if len(backends) == 0 {
			continue
		}
		addr, _ := n.EntryAddr(r.Name)
		e := newEntryPoint(r.Name, addr, backends)
		if err := e.setServing(n.anyGatewayUpLocked(r.Name)); err != nil {
			return fmt.Errorf("start entry points: %w", err)
		}
		n.entries[r.Name] = e
	}
	return nil
}

// anyGatewayUpLocked reports whether some gateway of region is not down.
func (n *Network) anyGatewayUpLocked(region string) bool {
	for _, g := range n.topo.GatewayNodes(region) {
		if !n.down[g.ID] {
			return true
		}
	}
	return false
}

// EntryServing reports whether a region's entry point accepts connections:
// it has started and some gateway of the region is up.
func (n *Network) EntryServing(region string) bool {
	n.mu.Lock()
	e, ok := n.entries[region]
	n.mu.Unlock()
	return ok && e.serving()
}

// NodeDown records that a node has stopped (crashed, or its zone went down):
// every link towards it refuses new connections from now on, as the closed
// port of a dead process does (its proxy is disabled; toxiproxy also closes
// the live connections through it), and when it is the last gateway of its
// region that is up, the region's entry point refuses connections too. The
// toxics of faults on those links stay and apply again after NodeUp. If it
// fails part-way, the node is marked down and calling again finishes it.
func (n *Network) NodeDown(ctx context.Context, id NodeID) error {
	return n.setNodeDown(ctx, id, true)
}

// NodeUp undoes NodeDown once the node serves again on its old addresses:
// the links towards it accept connections again and its region's entry point
// serves again. If it fails part-way, calling again finishes it.
func (n *Network) NodeUp(ctx context.Context, id NodeID) error {
	return n.setNodeDown(ctx, id, false)
}

// IsDown reports whether NodeDown marked the node and NodeUp has not since.
func (n *Network) IsDown(id NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down[id]
}

func (n *Network) setNodeDown(ctx context.Context, id NodeID, down bool) error {
	verb := "node up"
	if down {
		verb = "node down"
	}
	node, ok := n.topo.Node(id)
	if !ok {
		return fmt.Errorf("%s %s: %w", verb, id, ErrUnknownNode)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("%s %s: %w", verb, id, ErrClosed)
	}
	if down {
		n.down[id] = true
	} else {
		delete(n.down, id)
	}
	// Every call sets each proxy and the entry point to what the mark says
	// (toxiproxy ignores a proxy set to the state it is in), so calling again
	// finishes a call that failed part-way.
	if err := n.switchProxiesLocked(ctx, id, !down); err != nil {
		return fmt.Errorf("%s %s: %w", verb, id, err)
	}
	if e, ok := n.entries[node.Placement.Region]; ok && node.Kind == KindGateway {
		if err := e.setServing(n.anyGatewayUpLocked(node.Placement.Region)); err != nil {
			return fmt.Errorf("%s %s: %w", verb, id, err)
		}
	}
	return nil
}

// switchProxiesLocked enables or disables the proxy of every link towards id.
func (n *Network) switchProxiesLocked(ctx context.Context, id NodeID, enable bool) error {
	for _, lid := range n.sortedLinkIDsLocked() {
		if lid.To != id {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		l := n.links[lid]
		if enable {
			if err := l.proxy.Enable(); err != nil {
				return fmt.Errorf("enable proxy %s: %w", l.info.Proxy, err)
			}
		} else if err := l.proxy.Disable(); err != nil {
			return fmt.Errorf("disable proxy %s: %w", l.info.Proxy, err)
		}
	}
	return nil
}

// sortedLinkIDsLocked returns the ids of the proxied links in name order.
func (n *Network) sortedLinkIDsLocked() []LinkID {
	ids := make([]LinkID, 0, len(n.links))
	for id := range n.links {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b LinkID) int { return strings.Compare(a.String(), b.String()) })
	return ids
}

// AddLink creates the proxy for one link of the topology and applies the
// matrix latency: a latency toxic of the one-way latency L (± jitter) on each
// direction, so a request and its answer across the link take 2L. Every
// proxy listens on a free port of 127.0.0.1. A link towards a node that is
// down (NodeDown) starts disabled.
func (n *Network) AddLink(ctx context.Context, id LinkID) (Link, error) {
	oneWay, jitter, err := n.topo.LinkLatency(id)
	if err != nil {
		return Link{}, fmt.Errorf("add link: %w", errors.Join(ErrUnknownLink, err))
	}
	if err := ctx.Err(); err != nil {
		return Link{}, fmt.Errorf("add link %s: %w", id, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return Link{}, fmt.Errorf("add link %s: %w", id, ErrClosed)
	}
	if l, ok := n.links[id]; ok {
		return l.info, nil
	}
	upstream, ok := n.upstreamLocked(id)
	if !ok {
		return Link{}, fmt.Errorf("add link %s: %s has no registered address", id, id.To)
	}
	proxy, err := n.createProxyLocked(id, upstream)
	if err != nil {
		return Link{}, err
	}
	l := &link{
		info:  Link{ID: id, Proxy: proxy.Name, Listen: proxy.Listen, Upstream: upstream, OneWay: oneWay, Jitter: jitter},
		proxy: proxy,
	}
	n.links[id] = l
	if n.down[id.To] {
		if err := proxy.Disable(); err != nil {
			return Link{}, fmt.Errorf("disable %s towards a node that is down: %w", id, err)
		}
	}
	if oneWay > 0 {
		for _, s := range []string{streamUp, streamDown} {
			attrs := toxiclient.Attributes{"latency": oneWay.Milliseconds(), "jitter": jitter.Milliseconds()}
			if _, err := proxy.AddToxic("matrix-latency-"+s, "latency", s, 1, attrs); err != nil {
				return Link{}, fmt.Errorf("add matrix latency to %s: %w", id, err)
			}
		}
	}
	return l.info, nil
}

// createProxyLocked creates the proxy of link id on a port outside the kernel's ephemeral range
// (package loopback): a proxy disabled while its node is down gives up its port and must bind it again
// when the node comes back, and a port from that range can meanwhile become an outgoing connection's local
// port. toxiproxy binds the port itself, so one taken in between by another process is retried on a new
// port a bounded number of times.
func (n *Network) createProxyLocked(id LinkID, upstream string) (*toxiclient.Proxy, error) {
	var lastErr error
	for range proxyPortAttempts {
		listen, err := loopback.FreeAddr("127.0.0.1")
		if err != nil {
			return nil, fmt.Errorf("create proxy %s for %s: %w", id.ProxyName(), id, err)
		}
		proxy, err := n.client.CreateProxy(id.ProxyName(), listen, upstream)
		if err == nil {
			return proxy, nil
		}
		lastErr = err
		if _, err := n.client.Proxy(id.ProxyName()); err == nil {
			break // it exists, so the failure was not the bind: do not create it again
		}
	}
	return nil, fmt.Errorf("create proxy %s for %s: %w", id.ProxyName(), id, lastErr)
}

// proxyPortAttempts bounds how many ports createProxyLocked tries for one proxy.
const proxyPortAttempts = 5

// Link returns a link's proxy details.
func (n *Network) Link(id LinkID) (Link, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.links[id]
	if !ok {
		return Link{}, false
	}
	return l.info, true
}

// Links returns every proxied link, sorted by name.
func (n *Network) Links() []Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Link, 0, len(n.links))
	for _, l := range n.links {
		out = append(out, l.info)
	}
	slices.SortFunc(out, func(a, b Link) int {
		switch {
		case a.ID.String() < b.ID.String():
			return -1
		case a.ID.String() > b.ID.String():
			return 1
		}
		return 0
	})
	return out
}

// LinksOf returns the proxied links that start or end at node.
func (n *Network) LinksOf(node NodeID) []LinkID {
	var out []LinkID
	for _, l := range n.Links() {
		if l.ID.From == node || l.ID.To == node {
			out = append(out, l.ID)
		}
	}
	return out
}

// Addr is where From dials to reach To: the link's proxy address.
func (n *Network) Addr(id LinkID) (string, error) {
	l, ok := n.Link(id)
	if !ok {
		return "", fmt.Errorf("address of %s: %w", id, ErrNotConnected)
	}
	return l.Listen, nil
}

// nodeAt returns the registered node listening at addr.
func (n *Network) nodeAt(addr string) (NodeID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, a := range n.addrs {
		if a == addr {
			return id, true
		}
	}
	return "", false
}

// ClientDialer returns a dial function for one region's clients (for an
// http.Transport's DialContext): given a region's entry address (what the lab
// DNS answered, with the entry port), it does what that region's entry point
// does (see Connect), over this client region's own links: it dials the links
// to that region's gateways in turn, from the next one, skipping any that
// refuses, and fails when none accepts, so a resolver moves on to the next
// address of its answer. Any other address is refused, so clients never
// leave the lab.
func (n *Network) ClientDialer(clientRegion string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	client, ok := n.topo.ClientNode(clientRegion)
	if !ok {
		return nil, fmt.Errorf("client dialer for %q: no such region", clientRegion)
	}
	entries := map[string]string{} // entry address → region
	for _, r := range n.topo.Regions {
		a, _ := n.EntryAddr(r.Name)
		entries[a] = r.Name
	}
	var turn atomic.Uint64
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		region, ok := entries[addr]
		if !ok {
			return nil, fmt.Errorf("dial %s from %s: not a region entry point", addr, client.ID)
		}
		gws := n.topo.GatewayNodes(region)
		if len(gws) == 0 {
			return nil, fmt.Errorf("dial %s from %s: the region has no gateway", region, client.ID)
		}
		start := int(turn.Add(1) - 1)
		var errs []error
		for i := range gws {
			g := gws[(start+i)%len(gws)]
			to, err := n.Addr(LinkID{From: client.ID, To: g.ID})
			if err == nil {
				var c net.Conn
				if c, err = d.DialContext(ctx, "tcp", to); err == nil {
					return c, nil
				}
			}
			errs = append(errs, fmt.Errorf("%s: %w", g.ID, err))
			if ctx.Err() != nil {
				break
			}
		}
		return nil, fmt.Errorf("dial %s from %s: no gateway accepts: %w", region, client.ID, errors.Join(errs...))
	}, nil
}

// Close deletes every proxy the network created (their toxics, fault or
// matrix, and their live connections go with them), closes the raft
// listeners and entry points it made, and stops the embedded toxiproxy, waiting for every
// goroutine it started. With an external toxiproxy, the toxiproxy client's
// idle keep-alive connection (in http.DefaultTransport, which that client
// uses and does not let us replace) lingers until its idle timeout.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	links := n.links
	n.links = map[LinkID]*link{}
	n.faults = map[*Fault]struct{}{}
	layers := n.listeners
	n.listeners = map[NodeID]*StreamLayer{}
	entries := n.entries
	n.entries = map[string]*entryPoint{}
	n.mu.Unlock()

	for _, e := range entries {
		e.close()
	}
	var errs []error
	for id, l := range links {
		if err := l.proxy.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete proxy %s: %w", id.ProxyName(), err))
		}
	}
	for _, s := range layers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.stopEmbedded()
	return errors.Join(errs...)
}

// checkLoopbackAddr accepts "ip:port" with ip in 127.0.0.0/8 (or ::1).
func checkLoopbackAddr(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("%s: %w", addr, ErrNotLoopback)
	}
	return nil
}

// checkLoopbackHost accepts "localhost" or a loopback IP.
func checkLoopbackHost(host string) error { return loopback.CheckHost(host) }
