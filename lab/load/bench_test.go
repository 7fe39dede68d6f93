package load

import (
	"context"
	"io"
	"net"
	"net/http"
	"paylab/outcome"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Speed is measured here, never in tests: these are the real-HTTP versions of the generator's
// virtual-time tests, and their figures depend on the machine and its load.
//
//	go test -run '^$' -bench . -benchtime 3x ./lab/load

// target is a real loopback HTTP server; it can stall every request that arrives inside a
// window until the window ends, as a GC pause or a leader election would.
type target struct {
	URL    string
	srv    *http.Server
	done   chan struct{}
	hits   atomic.Int64
	mu     sync.Mutex
	stallF time.Time
	stallT time.Time
}

func startTarget(t testing.TB) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{URL: "http://" + ln.Addr().String() + "/", done: make(chan struct{})}
	tg.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		tg.mu.Lock()
		from, to := tg.stallF, tg.stallT
		tg.mu.Unlock()
		if now := time.Now(); !now.Before(from) && now.Before(to) {
			select {
			case <-time.After(to.Sub(now)):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { defer close(tg.done); tg.srv.Serve(ln) }()
	t.Cleanup(func() {
		tg.srv.Close()
		<-tg.done
	})
	return tg
}

func (tg *target) stall(from, to time.Time) {
	tg.mu.Lock()
	tg.stallF, tg.stallT = from, to
	tg.mu.Unlock()
}

// httpOp GETs the target with a client sized for conns connections.
func httpOp(t testing.TB, url string, conns int) OpFunc {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	return func(ctx context.Context, seq uint64, worker int) Outcome {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Outcome{Kind: outcome.Failed, Reason: err.Error()}
		}
		resp, err := c.Do(req)
		if err != nil {
			return Outcome{Kind: outcome.Failed, Reason: "transport"}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return Outcome{Kind: outcome.Failed, Reason: resp.Status}
		}
		return Outcome{Kind: outcome.OK}
	}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdleTargetOverHTTP runs 1,000 requests/s for 1 s against an idle loopback HTTP
// target and reports the achieved rate from the actual send times of the first and last
// request, the send lag's p99, the requests that were late or missed, and the CPU used per
// request (generator, client and server together). TestIdleTargetGetsExactlyTheSchedule is
// the same run in virtual time.
func BenchmarkIdleTargetOverHTTP(b *testing.B) {
	tg := startTarget(b)
	op := httpOp(b, tg.URL, 64)
	var achieved, lag, late, missed, cpu, requests float64
	for b.Loop() {
		c0 := cpuTime(b)
		rep, err := Run(context.Background(), Config{Pacer: ConstantPacer{Rate: 1000}, Duration: time.Second}, op)
		if err != nil {
			b.Fatal(err)
		}
		cpu += float64(cpuTime(b) - c0)
		if span := rep.LastSent - rep.FirstSent; span > 0 && rep.Requests > 1 {
			achieved += float64(rep.Requests-1) / span.Seconds()
		}
		lag += float64(us(rep.SendLag.ValueAtQuantile(99)))
		late += float64(rep.Late)
		missed += float64(rep.Missed)
		requests += float64(rep.Requests)
	}
	n := float64(b.N)
	b.ReportMetric(achieved/n, "achieved-req/s")
	b.ReportMetric(lag/n/float64(time.Millisecond), "send-lag-p99-ms")
	b.ReportMetric(late/n, "late/run")
	b.ReportMetric(missed/n, "missed/run")
	if requests > 0 {
		b.ReportMetric(cpu/requests/float64(time.Microsecond), "cpu-µs/req")
	}
}

// BenchmarkStallOverHTTP runs 1,000 requests/s for 2 s against a loopback HTTP target that
// stalls every request arriving between 0.5 s and 1.5 s until 1.5 s, and reports the open
// model's p99 and p99.9 (≈1 s on a machine that keeps up), its requests missed and its peak
// workers, the closed model's p99 against the same stall (which hides it), and the CPU per
// request. TestIntendedSendTimeExposesAStall is the same run in virtual time.
func BenchmarkStallOverHTTP(b *testing.B) {
	tg := startTarget(b)
	open, one := httpOp(b, tg.URL, 2000), httpOp(b, tg.URL, 1)
	var p99, p999, missed, peak, closedP99, cpu, requests float64
	for b.Loop() {
		c0 := cpuTime(b)
		start := time.Now()
		tg.stall(start.Add(500*time.Millisecond), start.Add(1500*time.Millisecond))
		rep, err := Run(context.Background(), Config{
			Pacer:      ConstantPacer{Rate: 1000},
			Duration:   2 * time.Second,
			MaxWorkers: 2000,
			Timeout:    5 * time.Second,
		}, open)
		if err != nil {
			b.Fatal(err)
		}
		cpu += float64(cpuTime(b) - c0)
		requests += float64(rep.Requests)
		p99 += float64(rep.P99())
		p999 += float64(rep.P999())
		missed += float64(rep.Missed)
		peak += float64(rep.PeakWorkers)

		start = time.Now()
		tg.stall(start.Add(500*time.Millisecond), start.Add(1500*time.Millisecond))
		closed, err := Run(context.Background(), Config{
			Clients:   1,
			ThinkTime: time.Millisecond,
			Duration:  2 * time.Second,
			Timeout:   5 * time.Second,
		}, one)
		if err != nil {
			b.Fatal(err)
		}
		closedP99 += float64(closed.P99())
	}
	n, ms := float64(b.N), float64(time.Millisecond)
	b.ReportMetric(p99/n/ms, "open-p99-ms")
	b.ReportMetric(p999/n/ms, "open-p99.9-ms")
	b.ReportMetric(missed/n, "open-missed/run")
	b.ReportMetric(peak/n, "open-peak-workers")
	b.ReportMetric(closedP99/n/ms, "closed-p99-ms")
	if requests > 0 {
		b.ReportMetric(cpu/requests/float64(time.Microsecond), "open-cpu-µs/req")
	}
}
