package regions

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHTTPExchange measures the CPU one small HTTP/1.1 exchange (keep-alive, a 100-byte body each way,
// net/http at both ends, 32 callers) costs the process, directly on loopback and through one lab link (a
// toxiproxy proxy with the zone latency, 1 ms each way). The difference is what a proxy adds to every
// payment-sized message in the lab (docs/PERFORMANCE.md, "CPU per payment"); cpu-µs/op is user+system CPU
// per exchange.
func BenchmarkHTTPExchange(b *testing.B) {
	for _, proxied := range []bool{false, true} {
		name := "direct"
		if proxied {
			name = "proxied"
		}
		b.Run(name, func(b *testing.B) { benchmarkHTTPExchange(b, proxied) })
	}
}

func benchmarkHTTPExchange(b *testing.B, proxied bool) {
	body := make([]byte, 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	defer func() {
		_ = srv.Close()
		<-done
	}()
	addr := ln.Addr().String()
	if proxied {
		topo := testTopology()
		topo.Latency.Jitter = 0
		nw, err := NewNetwork(context.Background(), topo, NetworkOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer nw.Close()
		if err := nw.Register(usB, addr); err != nil {
			b.Fatal(err)
		}
		l, err := nw.AddLink(context.Background(), LinkID{From: usA, To: usB})
		if err != nil {
			b.Fatal(err)
		}
		addr = l.Listen
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + addr + "/v1/transfers"
	b.SetParallelism(16) // 32 callers on two cores
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkTCPRoundTrip is the floor under BenchmarkHTTPExchange: a 100-byte request and answer on a
// kept-open loopback TCP connection with no HTTP at all (32 callers, one connection each, an echo goroutine
// per connection). What it costs — two writes, two reads and the goroutine wake-ups — is what the machine
// charges for any message, before net/http or a proxy add theirs (docs/PERFORMANCE.md, "CPU per payment").
func BenchmarkTCPRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 100)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	b.SetParallelism(16) // 32 callers on two cores
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		for pb.Next() {
			if _, err := c.Write(buf); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
