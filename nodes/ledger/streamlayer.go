package ledger

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"paylab/loopback"
)

// TCPStreamLayer is the default raft stream layer: a TCP listener on a loopback address and direct dials.
type TCPStreamLayer struct {
	net.Listener
	conns loopback.Conns // accepted and dialled; closed with the layer
}

var _ raft.StreamLayer = (*TCPStreamLayer)(nil)

// NewTCPStreamLayer listens on addr, which must be a loopback address ("127.0.0.1:0" picks a port outside
// the kernel's ephemeral range, so a restart can bind it again: package loopback).
func NewTCPStreamLayer(addr string) (*TCPStreamLayer, error) {
	ln, err := loopback.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", addr, err)
	}
	return &TCPStreamLayer{Listener: ln}, nil
}

// Dial connects to another node's raft address.
func (l *TCPStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if err := loopback.Check(string(address)); err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	return l.conns.Track(c)
}

// Accept waits for a peer's connection.
func (l *TCPStreamLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.conns.Track(c)
}

// Close stops accepting and closes every connection the layer accepted or dialled, as a stopped process's
// connections close (raft's transport closes only the listener; see loopback.Conns).
func (l *TCPStreamLayer) Close() error {
	err := l.Listener.Close()
	l.conns.CloseAll()
	return err
}
