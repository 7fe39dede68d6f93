package loopback

import (
	"errors"
	"io"
	"net"
	"testing"
)

// TestConnsCloseAllClosesEveryTrackedConnection: CloseAll closes what is open, a connection closed on its own
// leaves the set, and one tracked after CloseAll is closed at once.
func TestConnsCloseAllClosesEveryTrackedConnection(t *testing.T) {
	var s Conns
	var peers []net.Conn
	for range 3 {
		a, b := net.Pipe()
		if _, err := s.Track(a); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, b)
	}
	a, b := net.Pipe()
	own, _ := s.Track(a)
	if s.Len() != 4 {
		t.Fatalf("Len = %d, want 4", s.Len())
	}
	_ = own.Close()
	_ = b.Close()
	if s.Len() != 3 {
		t.Fatalf("Len = %d after one closed itself, want 3", s.Len())
	}
	s.CloseAll()
	for i, p := range peers {
		if _, err := p.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("peer %d reads %v after CloseAll, want EOF", i, err)
		}
	}
	late, _ := net.Pipe()
	if _, err := s.Track(late); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Track after CloseAll: %v, want net.ErrClosed", err)
	}
	if _, err := late.Write([]byte{1}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("a connection tracked after CloseAll is still open: %v", err)
	}
}
