package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// RequestSigner adds authentication headers to every attempt the client's own transport sends; each attempt
// is signed afresh. gateway.Signer implements it.
type RequestSigner interface {
	// AppendSignatureHeaders appends complete header lines ("Name: value\r\n") authenticating one request to
	// dst and returns the extended slice.
	AppendSignatureHeaders(dst []byte, method, requestURI string, body []byte, now time.Time) []byte
}

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// connPool is the client's own HTTP/1.1 transport: keep-alive connections to each node, each request
// written and its answer read on the caller's goroutine. net/http's Transport hands every request to a
// write goroutine and the answer back from a read goroutine; in the lab, where a payment crosses two
// HTTP hops and everything shares one process and two cores, those hand-offs and the allocations around
// them were a fifth of the CPU (docs/PERFORMANCE.md). It speaks only what the ledger and the gateway
// answer: Content-Length or chunked bodies, keep-alive unless "Connection: close".
type connPool struct {
	dial        DialFunc
	signer      RequestSigner
	idleTimeout time.Duration
	hosts       map[string]*hostPool // by node id
	done        chan struct{}        // closed by close
	closeOnce   sync.Once
}

// hostPool holds one node's connections: at most max open, the idle ones reused newest first.
type hostPool struct {
	addr, host string        // where to dial; the Host header
	tokens     chan struct{} // one per open (or dialling) connection
	released   chan struct{} // signalled when a connection goes idle, for callers waiting at the bound

	mu     sync.Mutex
	idle   []*pconn
	closed bool
}

// pconn is one keep-alive connection.
type pconn struct {
	nc        net.Conn
	br        *bufio.Reader
	wbuf      []byte // the request being written, reused
	idleSince time.Time
	reused    bool
}

func newConnPool(cfg Config) (*connPool, error) {
	p := &connPool{dial: cfg.Dial, signer: cfg.Signer, idleTimeout: cfg.IdleTimeout, hosts: map[string]*hostPool{}, done: make(chan struct{})}
	if p.dial == nil {
		d := &net.Dialer{Timeout: cfg.AttemptTimeout, KeepAlive: 30 * time.Second}
		p.dial = d.DialContext
	}
	for id, base := range cfg.Nodes {
		u, err := url.Parse(base)
		if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("client config: node %s: base URL %q must be http://host:port", id, base)
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		hp := &hostPool{addr: addr, host: u.Host, tokens: make(chan struct{}, cfg.MaxConnsPerNode), released: make(chan struct{}, 1)}
		p.hosts[id] = hp
	}
	return p, nil
}

// close closes idle connections and makes busy ones close when they are released.
func (p *connPool) close() {
	p.closeOnce.Do(func() { close(p.done) })
	for _, hp := range p.hosts {
		hp.mu.Lock()
		hp.closed = true
		idle := hp.idle
		hp.idle = nil
		hp.mu.Unlock()
		for _, c := range idle {
			c.nc.Close()
			<-hp.tokens
		}
	}
}

// closeIdle closes the idle connections and keeps the pool usable.
func (p *connPool) closeIdle() {
	for _, hp := range p.hosts {
		hp.mu.Lock()
		idle := hp.idle
		hp.idle = nil
		hp.mu.Unlock()
		for _, c := range idle {
			hp.drop(c)
		}
	}
}

// errPoolClosed is returned for a request made after Close.
var errPoolClosed = errors.New("client closed")

// get returns an idle connection or a new one. dialed reports a new connection; an error from dialling is
// returned as is (nothing was sent).
func (hp *hostPool) get(ctx context.Context, p *connPool) (*pconn, error) {
	for {
		hp.mu.Lock()
		if hp.closed {
			hp.mu.Unlock()
			return nil, errPoolClosed
		}
		for len(hp.idle) > 0 {
			c := hp.idle[len(hp.idle)-1]
			hp.idle = hp.idle[:len(hp.idle)-1]
			if p.idleTimeout > 0 && time.Since(c.idleSince) > p.idleTimeout {
				hp.mu.Unlock()
				hp.drop(c)
				hp.mu.Lock()
				continue
			}
			more := len(hp.idle) > 0
			hp.mu.Unlock()
			if more {
				hp.signal() // another waiter may take the next one
			}
			return c, nil
		}
		hp.mu.Unlock()
		select {
		case hp.tokens <- struct{}{}:
			nc, err := p.dial(ctx, "tcp", hp.addr)
			if err != nil {
				<-hp.tokens
				return nil, &dialError{err}
			}
			return &pconn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
		case <-hp.released:
		case <-ctx.Done():
			return nil, &dialError{ctx.Err()}
		case <-p.done:
			return nil, errPoolClosed
		}
	}
}

func (hp *hostPool) signal() {
	select {
	case hp.released <- struct{}{}:
	default:
	}
}

// put returns a healthy connection to the idle stack.
func (hp *hostPool) put(c *pconn) {
	c.idleSince = time.Now()
	c.reused = true
	hp.mu.Lock()
	if hp.closed {
		hp.mu.Unlock()
		hp.drop(c)
		return
	}
	hp.idle = append(hp.idle, c)
	hp.mu.Unlock()
	hp.signal()
}

// drop closes a connection and frees its slot.
func (hp *hostPool) drop(c *pconn) {
	c.nc.Close()
	<-hp.tokens
	hp.signal()
}

// dialError marks a failure before any byte of the request was sent.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// roundTrip sends one request to node and reads the whole answer, within deadline and ctx. sent reports
// whether the request may have reached the server.
func (p *connPool) roundTrip(ctx context.Context, node, method, path string, body []byte, deadline time.Time, limit int64) (code int, raw []byte, sent bool, err error) {
	hp, ok := p.hosts[node]
	if !ok {
		return 0, nil, false, fmt.Errorf("unknown node %q", node)
	}
	c, err := hp.get(ctx, p)
	if err != nil {
		return 0, nil, false, err
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		hp.drop(c)
		return 0, nil, false, fmt.Errorf("set deadline: %w", err)
	}
	var stop func() bool
	if ctx.Done() != nil {
		nc := c.nc
		stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) }) // a past deadline interrupts I/O
	}
	code, raw, keep, err := p.exchange(c, hp.host, method, path, body, limit)
	if stop != nil && !stop() {
		// ctx ended while the exchange ran: the connection's deadline may have been cut short, so it is not
		// reused. An answer read in full still stands; a failure is reported as ctx's.
		keep = false
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				err = fmt.Errorf("%w (%v)", cerr, err)
			}
		}
	}
	if err != nil || !keep {
		hp.drop(c)
	} else {
		hp.put(c)
	}
	if err != nil {
		return 0, nil, true, err
	}
	return code, raw, true, nil
}

// exchange writes the request and reads the answer. keep reports whether the connection may be reused.
func (p *connPool) exchange(c *pconn, host, method, path string, body []byte, limit int64) (code int, raw []byte, keep bool, err error) {
	b := c.wbuf[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: paylab-ledger-client\r\n"...)
	if p.signer != nil {
		b = p.signer.AppendSignatureHeaders(b, method, path, body, time.Now())
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\n"...)
	}
	if body != nil || method == http.MethodPost || method == http.MethodPut {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	if len(b)+len(body) <= 64<<10 {
		b = append(b, body...)
		_, err = c.nc.Write(b)
	} else {
		_, err = (&net.Buffers{b, body}).WriteTo(c.nc)
	}
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0]
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("write request: %w", err)
	}
	return readResponse(c.br, method, limit)
}

// readResponse reads one HTTP/1.1 answer: status line, headers, and a body delimited by Content-Length,
// chunked encoding or the end of the connection.
func readResponse(br *bufio.Reader, method string, limit int64) (code int, raw []byte, keep bool, err error) {
	for {
		var h respHead
		if h, err = readHead(br); err != nil {
			return 0, nil, false, err
		}
		if h.code >= 100 && h.code < 200 && h.code != http.StatusSwitchingProtocols {
			continue // an interim answer; the real one follows
		}
		if method == http.MethodHead || h.code == http.StatusNoContent || h.code == http.StatusNotModified {
			return h.code, nil, h.keep, nil
		}
		if raw, keep, err = readBody(br, h, limit); err != nil {
			return 0, nil, false, err
		}
		return h.code, raw, keep, nil
	}
}

// respHead is what an answer's status line and headers say.
type respHead struct {
	code          int
	keep          bool  // the connection may be reused after the answer
	contentLength int64 // -1: none given
	chunked       bool
}

// readHead reads an answer's status line and headers.
func readHead(br *bufio.Reader) (respHead, error) {
	line, err := readLine(br)
	if err != nil {
		return respHead{}, fmt.Errorf("read answer: %w", err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return respHead{}, fmt.Errorf("read answer: malformed status line %q", line)
	}
	h := respHead{keep: line[7] == '1', contentLength: -1}
	h.code, err = strconv.Atoi(string(line[9:12]))
	if err != nil || h.code < 100 {
		return respHead{}, fmt.Errorf("read answer: malformed status line %q", line)
	}
	for {
		l, err := readLine(br)
		if err != nil {
			return respHead{}, fmt.Errorf("read answer headers: %w", err)
		}
		if len(l) == 0 {
			return h, nil
		}
		if err := h.header(l); err != nil {
			return respHead{}, err
		}
	}
}

// header takes in one header line: the body's framing and whether the connection stays open.
func (h *respHead) header(l []byte) error {
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return fmt.Errorf("read answer: malformed header line %q", l)
	}
	name, value := l[:colon], bytes.TrimSpace(l[colon+1:])
	switch {
	case asciiEqualFold(name, "Content-Length"):
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("read answer: bad Content-Length %q", value)
		}
		h.contentLength = n
	case asciiEqualFold(name, "Transfer-Encoding"):
		if !asciiEqualFold(value, "chunked") {
			return fmt.Errorf("read answer: unsupported Transfer-Encoding %q", value)
		}
		h.chunked = true
	case asciiEqualFold(name, "Connection"):
		if asciiEqualFold(value, "close") {
			h.keep = false
		} else if asciiEqualFold(value, "keep-alive") {
			h.keep = true
		}
	}
	return nil
}

// readBody reads an answer's body as its head frames it (chunked, Content-Length, or up to the end of the
// connection, which then cannot be kept), at most limit bytes.
func readBody(br *bufio.Reader, h respHead, limit int64) (raw []byte, keep bool, err error) {
	keep = h.keep
	switch {
	case h.chunked:
		raw, err = readAllLimited(httputil.NewChunkedReader(br), limit)
		if err == nil {
			// the trailer section ends with an empty line
			for {
				l, lerr := readLine(br)
				if lerr != nil {
					return nil, false, fmt.Errorf("read answer trailer: %w", lerr)
				}
				if len(l) == 0 {
					break
				}
			}
		}
	case h.contentLength >= 0:
		if h.contentLength > limit {
			return nil, false, fmt.Errorf("read answer: body of %d bytes is over the %d-byte limit", h.contentLength, limit)
		}
		raw = make([]byte, h.contentLength)
		_, err = io.ReadFull(br, raw)
	default:
		raw, err = readAllLimited(br, limit)
		keep = false
	}
	if err != nil {
		return nil, false, fmt.Errorf("read answer body: %w", err)
	}
	return raw, keep, nil
}

// readLine reads one CRLF- or LF-terminated line without its terminator. The slice is valid until the next
// read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errors.New("header line too long")
	}
	if err != nil {
		if err == io.EOF && len(line) == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("body is over the %d-byte limit", limit)
	}
	return b, nil
}

// asciiEqualFold reports whether b equals s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
