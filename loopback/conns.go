package loopback

import (
	"net"
	"sync"
)

// Conns is the set of open connections of one raft stream layer — the ones it accepted and the ones it
// dialled — so that closing the layer closes them all. hashicorp/raft's NetworkTransport.Close closes only
// the listener (net_transport.go, v1.7.3): a goroutine serving an accepted connection stays blocked in its
// read, holding the last request it decoded (an AppendEntries of up to MaxAppendEntries entries), until the
// peer closes its end, and the transport's pooled outgoing connections stay open. A node that crashes or
// stops must drop its connections as a process would; without this, every node stopped in one process (a
// benchmark's repeats, a lab's crashes) left its peers' handlers and their buffers behind: 170 MB after one
// batch benchmark run (docs/PERFORMANCE.md). The zero value is ready to use.
type Conns struct {
	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	closed bool
}

// Track adds c to the set and returns the connection to use in its place, whose Close also removes it. After
// CloseAll, Track closes c and returns net.ErrClosed.
func (s *Conns) Track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	if s.open == nil {
		s.open = map[*trackedConn]struct{}{}
	}
	t := &trackedConn{Conn: c, set: s}
	s.open[t] = struct{}{}
	return t, nil
}

// Len is the number of connections open now.
func (s *Conns) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// CloseAll closes every connection in the set and every one tracked from now on.
func (s *Conns) CloseAll() {
	s.mu.Lock()
	open := s.open
	s.open, s.closed = nil, true
	s.mu.Unlock()
	for t := range open {
		_ = t.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	set *Conns
}

func (t *trackedConn) Close() error {
	t.set.mu.Lock()
	delete(t.set.open, t)
	t.set.mu.Unlock()
	return t.Conn.Close()
}
