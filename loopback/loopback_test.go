package loopback

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Range
		ok   bool
	}{
		{"32768\t60999\n", Range{32768, 60999}, true},
		{"1024 65535", Range{1024, 65535}, true},
		{"60999 32768", Range{}, false},
		{"x 1", Range{}, false},
		{"", Range{}, false},
	} {
		got, ok := parseRange(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("parseRange(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestStableRangeAvoidsTheEphemeralRange(t *testing.T) {
	for _, c := range []struct {
		eph  Range
		want Range
		ok   bool
	}{
		{Range{32768, 60999}, Range{22768, 32767}, true},
		{Range{15000, 60999}, Range{10000, 14999}, true},
		{Range{1024, 60000}, Range{60001, 65535}, true},
		{Range{1024, 65535}, Range{}, false},
	} {
		got, ok := StableRange(c.eph)
		if ok != c.ok || got != c.want {
			t.Errorf("StableRange(%v) = %v, %v; want %v, %v", c.eph, got, ok, c.want, c.ok)
		}
		if ok && got.Hi >= c.eph.Lo && got.Lo <= c.eph.Hi {
			t.Errorf("StableRange(%v) = %v overlaps it", c.eph, got)
		}
	}
}

func TestListenPicksAPortOutsideTheEphemeralRangeAndCanBindItAgain(t *testing.T) {
	eph := EphemeralRange()
	r, ok := StableRange(eph)
	if !ok {
		t.Skipf("ephemeral range %v leaves no stable ports on this machine", eph)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, ps, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(ps)
	if p < r.Lo || p > r.Hi {
		t.Fatalf("port %d outside the stable range %v", p, r)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	// Outgoing connections meanwhile draw their local ports from the ephemeral range, never this one.
	again, err := Listen(addr)
	if err != nil {
		t.Fatalf("bind %s again: %v", addr, err)
	}
	defer again.Close()
	if _, err := Listen(addr); err == nil {
		t.Fatalf("a second bind of %s succeeded", addr)
	}
}

func TestListenRefusesAddressesOffLoopback(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", "10.0.0.1:0", "example.com:80", ":0"} {
		if _, err := Listen(a); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", a, err)
		}
	}
	if err := Check("localhost:1"); err != nil {
		t.Errorf("Check(localhost:1) = %v", err)
	}
	if err := Check("127.0.1.3:80"); err != nil {
		t.Errorf("Check(127.0.1.3:80) = %v", err)
	}
}
