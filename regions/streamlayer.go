package regions

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"paylab/loopback"
)

// StreamLayer is one ledger node's raft network: it accepts on the node's own
// loopback address (which is the node's raft ServerAddress) and dials every
// peer through the proxy of the (self → peer) link, so each direction between
// two nodes can be slowed or cut on its own. Hand it to
// raft.NewNetworkTransport.
type StreamLayer struct {
	self NodeID
	nw   *Network
	ln   net.Listener

	conns     loopback.Conns // accepted and dialled; closed with the layer
	closeOnce sync.Once
	closeErr  error
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// ListenRaft opens a listener for ledger node self and returns its stream
// layer; the listener's address is the node's raft ServerAddress. The first
// time, it takes a free port of 127.0.0.1 and registers it as the node's
// address; after a crash (the old layer closed), it listens again on that
// same address, so the raft configuration and the proxies stay valid.
// Network.Close closes the current layer too.
func (n *Network) ListenRaft(self NodeID) (*StreamLayer, error) {
	node, ok := n.topo.Node(self)
	if !ok || node.Kind != KindLedger {
		return nil, fmt.Errorf("listen raft for %s: not a ledger node: %w", self, ErrUnknownNode)
	}
	n.mu.Lock()
	addr, known := n.addrs[self]
	n.mu.Unlock()
	if !known {
		addr = "127.0.0.1:0"
	}
	ln, err := loopback.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("listen raft for %s on %s: %w", self, addr, err)
	}
	if err := n.Register(self, ln.Addr().String()); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("listen raft: %w", err)
	}
	s := &StreamLayer{self: self, nw: n, ln: ln}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		_ = ln.Close()
		return nil, fmt.Errorf("listen raft for %s: %w", self, ErrClosed)
	}
	n.listeners[self] = s
	return s, nil
}

// Node is the ledger node this layer belongs to.
func (s *StreamLayer) Node() NodeID { return s.self }

// ServerAddress is the node's raft address (its listener's address).
func (s *StreamLayer) ServerAddress() raft.ServerAddress {
	return raft.ServerAddress(s.ln.Addr().String())
}

// Accept waits for a peer's connection (through that peer's proxy).
func (s *StreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return s.conns.Track(c)
}

// Close stops accepting and closes every connection the layer accepted or dialled, as a crashed process's
// connections close: raft's transport closes only the listener, and the goroutines serving its accepted
// connections would otherwise wait for the peer, holding their last request (loopback.Conns).
func (s *StreamLayer) Close() error {
	s.closeOnce.Do(func() {
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("close raft listener of %s: %w", s.self, err)
		}
		s.conns.CloseAll()
	})
	return s.closeErr
}

// Addr is the node's own listen address.
func (s *StreamLayer) Addr() net.Addr { return s.ln.Addr() }

// Dial connects to the peer whose raft address is address, through the
// (self → peer) proxy. An address that is no registered node's is refused:
// raft traffic never bypasses the lab network.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	peer, ok := s.nw.nodeAt(string(address))
	if !ok {
		return nil, fmt.Errorf("raft dial from %s to %s: %w", s.self, address, ErrUnknownNode)
	}
	via, err := s.nw.Addr(LinkID{From: s.self, To: peer})
	if err != nil {
		return nil, fmt.Errorf("raft dial from %s to %s: %w", s.self, peer, err)
	}
	conn, err := net.DialTimeout("tcp", via, timeout)
	if err != nil {
		return nil, fmt.Errorf("raft dial from %s to %s via %s: %w", s.self, peer, via, err)
	}
	return s.conns.Track(conn)
}
