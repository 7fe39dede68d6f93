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
	return net.DialTimeout("tcp", string(address), timeout)
}
