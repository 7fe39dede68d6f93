package regions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// entryDialTimeout bounds the entry point's dial of one gateway link: a
// proxy on loopback accepts or refuses at once.
const entryDialTimeout = 2 * time.Second

// entryPoint is a region's entry, 127.0.1.N on the shared entry port: the
// lab's model of a regional layer-4 load balancer. It spans every zone of its
// region, as a cloud load balancer does, so no single zone takes it down; it
// serves while at least one of the region's gateways is up and refuses
// connections (closes its listener) while none is, as a balancer with no
// target does, so health checks and clients see the region gone at once. Each
// connection goes to the region's gateways in turn, through the region's own
// client links (the path its clients take); a gateway whose link refuses is
// skipped (passive health checking), and a connection no gateway accepts is
// closed.
type entryPoint struct {
	region   string
	addr     string
	backends []entryBackend
	turn     atomic.Uint64

	mu     sync.Mutex
	ln     net.Listener // nil while the entry refuses connections
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// entryBackend is one gateway behind an entry point: the listen address of
// the link from the region's clients to it.
type entryBackend struct {
	gateway NodeID
	addr    string
}

func newEntryPoint(region, addr string, backends []entryBackend) *entryPoint {
	return &entryPoint{region: region, addr: addr, backends: backends, conns: map[net.Conn]struct{}{}}
}

// serving reports whether the entry accepts connections.
func (e *entryPoint) serving() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ln != nil
}

// setServing opens the listener (on the same address every time) or closes
// it together with every connection through the entry. It does not wait for
// the goroutines of closed connections; close does.
func (e *entryPoint) setServing(on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || on == (e.ln != nil) {
		return nil
	}
	if !on {
		_ = e.ln.Close()
		e.ln = nil
		for c := range e.conns {
			_ = c.Close()
		}
		clear(e.conns)
		return nil
	}
	ln, err := net.Listen("tcp", e.addr)
	if err != nil {
		return fmt.Errorf("entry point of %s: listen on %s: %w", e.region, e.addr, err)
	}
	e.ln = ln
	e.wg.Go(func() { e.accept(ln) })
	return nil
}

func (e *entryPoint) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by setServing(false) or close
		}
		if !e.track(c) {
			_ = c.Close()
			return
		}
		e.wg.Go(func() { e.forward(c) })
	}
}

// track adds c to the live connections, unless the entry stopped serving.
func (e *entryPoint) track(c net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.ln == nil {
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *entryPoint) untrack(cs ...net.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cs {
		delete(e.conns, c)
		_ = c.Close()
	}
}

// forward connects c to the first gateway that accepts, in turn, and copies
// both ways until either side ends.
func (e *entryPoint) forward(c net.Conn) {
	up, err := e.dial()
	if err != nil {
		e.untrack(c)
		return
	}
	if !e.track(up) {
		e.untrack(c, up)
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	e.untrack(c, up) // the other copy returns once its connections close
	<-done
}

// dial tries the region's gateways from the next one in turn.
func (e *entryPoint) dial() (net.Conn, error) {
	if len(e.backends) == 0 {
		return nil, fmt.Errorf("entry point of %s: no gateway", e.region)
	}
	start := int(e.turn.Add(1) - 1)
	ctx, cancel := context.WithTimeout(context.Background(), entryDialTimeout)
	defer cancel()
	var d net.Dialer
	var errs []error
	for i := range e.backends {
		b := e.backends[(start+i)%len(e.backends)]
		c, err := d.DialContext(ctx, "tcp", b.addr)
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b.gateway, err))
	}
	return nil, fmt.Errorf("entry point of %s: no gateway accepts: %w", e.region, errors.Join(errs...))
}

// close stops serving for good and waits for every goroutine of the entry.
func (e *entryPoint) close() {
	_ = e.setServing(false)
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.wg.Wait()
}
