// Package loopback hands out listening ports on 127.0.0.0/8 that a node can
// bind again after it let go of them.
//
// A lab node gives up its port when it crashes (its listener closes, or its
// toxiproxy proxy is disabled so that connections are refused) and binds the
// same port again when it comes back, because its peers and proxies know it
// by that address. A port the kernel picked with ":0" comes from the
// ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 by
// default), the same range the kernel draws the local port of every outgoing
// connection from; a lab makes thousands of those, so while the node is down
// one of them can take its port and the restart fails with EADDRINUSE (seen in
// CI). Ports handed out here lie outside that range, where the kernel never
// picks a local port for a connection (ip(7), ip_local_port_range), so only
// another explicit bind can take them.
//
// Conns closes a raft stream layer's connections with it, as a stopped process's connections close.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotLoopback is returned for an address outside 127.0.0.0/8 and ::1: the lab never binds or dials elsewhere.
var ErrNotLoopback = errors.New("not a loopback address")

// Range is a closed interval of TCP ports.
type Range struct{ Lo, Hi int }

// defaultEphemeral is Linux's default ip_local_port_range, used when the file cannot be read.
var defaultEphemeral = Range{Lo: 32768, Hi: 60999}

// attempts bounds how many random ports Listen tries before it gives up.
const attempts = 64

// EphemeralRange returns the kernel's range of local ports for outgoing connections, read from
// /proc/sys/net/ipv4/ip_local_port_range, or Linux's default 32768–60999 when it cannot be read.
func EphemeralRange() Range {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeral
	}
	r, ok := parseRange(string(b))
	if !ok {
		return defaultEphemeral
	}
	return r
}

func parseRange(s string) (Range, bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return Range{}, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return Range{}, false
	}
	return Range{Lo: lo, Hi: hi}, true
}

// StableRange returns the ports this package hands out for ephemeral: the 10,000 ports (or fewer) just
// below it, never under 10000 where well-known services live, else the ports above it. ok is false when
// the ephemeral range leaves no room on either side; Listen then lets the kernel pick.
func StableRange(ephemeral Range) (Range, bool) {
	if lo := max(10000, ephemeral.Lo-10000); ephemeral.Lo-1-lo >= 1000 {
		return Range{Lo: lo, Hi: ephemeral.Lo - 1}, true
	}
	if ephemeral.Hi <= 65535-1000 {
		return Range{Lo: ephemeral.Hi + 1, Hi: 65535}, true
	}
	return Range{}, false
}

// Check returns ErrNotLoopback (wrapped, with the address) unless addr is "host:port" with a host
// CheckHost accepts.
func Check(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if err := CheckHost(host); err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	return nil
}

// CheckHost returns ErrNotLoopback (wrapped) unless host is "localhost" or an IP in 127.0.0.0/8 or ::1.
func CheckHost(host string) error {
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q: %w (127.0.0.0/8): the lab only uses this machine", host, ErrNotLoopback)
	}
	return nil
}

// Listen listens for TCP on addr, a loopback "host:port". A port of 0 is replaced by a free port outside
// the kernel's ephemeral range (StableRange), so the caller can bind the same address again after closing
// it; a fixed port is bound as given. Errors: ErrNotLoopback, or the bind's error (for a fixed port,
// syscall.EADDRINUSE when it is taken).
func Listen(addr string) (net.Listener, error) {
	if err := Check(addr); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	if port != "0" {
		return net.Listen("tcp", addr)
	}
	r, ok := StableRange(EphemeralRange())
	if !ok {
		return net.Listen("tcp", addr)
	}
	var lastErr error
	for range attempts {
		p := r.Lo + rand.IntN(r.Hi-r.Lo+1)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free port on %s in %d–%d after %d tries: %w", host, r.Lo, r.Hi, attempts, lastErr)
}

// FreeAddr returns "host:port" for a port outside the ephemeral range that was free a moment ago, for a
// server that binds it itself (a toxiproxy proxy). Another process may take it before that bind, so the
// caller retries with a new address when its bind fails. Errors: as Listen's.
func FreeAddr(host string) (string, error) {
	ln, err := Listen(net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("free address on %s: %w", host, err)
	}
	return addr, nil
}
