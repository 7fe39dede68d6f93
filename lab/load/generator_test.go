package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"paylab/results"
)

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

func startTarget(t *testing.T) *target {
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
func httpOp(t *testing.T, url string, conns int) OpFunc {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	return func(ctx context.Context, seq uint64, worker int) Outcome {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Outcome{Kind: Failed, Reason: err.Error()}
		}
		resp, err := c.Do(req)
		if err != nil {
			return Outcome{Kind: Failed, Reason: "transport"}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return Outcome{Kind: Failed, Reason: resp.Status}
		}
		return Outcome{Kind: OK}
	}
}

// The Done-when test of issue 5: a target that stalls for 1 s under 1,000 req/s must put ≈1 s
// in the p99.9 (as wrk2 would), because every request due during the stall waits for it; a
// closed-model run against the same stall reports a tail that hides it.
func TestIntendedSendTimeExposesAStall(t *testing.T) {
	tg := startTarget(t)
	start := time.Now()
	tg.stall(start.Add(500*time.Millisecond), start.Add(1500*time.Millisecond))
	rep, err := Run(context.Background(), Config{
		Pacer:      ConstantPacer{Rate: 1000},
		Duration:   2 * time.Second,
		MaxWorkers: 2000,
		Timeout:    5 * time.Second,
	}, httpOp(t, tg.URL, 2000))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != rep.Requests || rep.Requests < 1990 {
		t.Fatalf("open model: %d ok of %d sent, want ~2000 all ok", rep.OK, rep.Requests)
	}
	if p := rep.P999(); p < 900*time.Millisecond || p > 1500*time.Millisecond {
		t.Errorf("open model p99.9 = %v, want ≈1 s: the stall must show in the tail", p)
	}
	if p := rep.P99(); p < 850*time.Millisecond {
		t.Errorf("open model p99 = %v, want ≥ 850 ms (half the requests were due during the stall)", p)
	}
	if rep.PeakWorkers < 500 {
		t.Errorf("peak workers %d: the pool should have grown to ≈ rate × stall = 1000", rep.PeakWorkers)
	}
	if rep.Missed != 0 {
		t.Errorf("%d requests missed: the pool should have covered rate × stall", rep.Missed)
	}

	// Closed model, same stall: one client sending back to back with 1 ms think time.
	start = time.Now()
	tg.stall(start.Add(500*time.Millisecond), start.Add(1500*time.Millisecond))
	closed, err := Run(context.Background(), Config{
		Clients:   1,
		ThinkTime: time.Millisecond,
		Duration:  2 * time.Second,
		Timeout:   5 * time.Second,
	}, httpOp(t, tg.URL, 1))
	if err != nil {
		t.Fatal(err)
	}
	if closed.Max() < 900*time.Millisecond {
		t.Errorf("closed model max = %v: the one stalled request should still be seen", closed.Max())
	}
	if p := closed.P99(); p > 100*time.Millisecond {
		t.Errorf("closed model p99 = %v, want the stall hidden (< 100 ms): coordinated omission", p)
	}
	t.Logf("open: p99=%v p99.9=%v peak workers %d; closed: p99=%v p99.9=%v max=%v over %d requests",
		rep.P99(), rep.P999(), rep.PeakWorkers, closed.P99(), closed.P999(), closed.Max(), closed.Requests)
}

// On an idle target the schedule is met: every due request is sent, and the achieved rate,
// measured from actual send times, is within 1% of the target.
func TestAchievedRateWithinOnePercentOnIdleTarget(t *testing.T) {
	tg := startTarget(t)
	hist := results.NewHistory(time.Now(), 10_000)
	rep, err := Run(context.Background(), Config{
		Pacer:    ConstantPacer{Rate: 1000},
		Duration: time.Second,
		History:  hist,
	}, httpOp(t, tg.URL, 64))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 1000 || rep.Due != 1000 || rep.Missed != 0 {
		t.Fatalf("sent %d, due %d, missed %d; want 1000, 1000, 0", rep.Requests, rep.Due, rep.Missed)
	}
	if got := tg.hits.Load(); got != 1000 {
		t.Fatalf("target saw %d requests, want 1000", got)
	}
	// Rate from the actual send times of the first and last request (999 intervals).
	span := rep.LastSent - rep.FirstSent
	achieved := 999 / span.Seconds()
	if achieved < 990 || achieved > 1010 {
		t.Errorf("achieved %.1f/s from actual send times (span %v), want 1000 ± 1%%", achieved, span)
	}
	if rep.Rate < 990 || rep.Rate > 1010 {
		t.Errorf("reported rate %.1f/s, want 1000 ± 1%%", rep.Rate)
	}
	// Every request is in the history with its timing, in order of intended time.
	ops := hist.Ops()
	if len(ops) != 1000 {
		t.Fatalf("history has %d ops, want 1000", len(ops))
	}
	for _, op := range ops {
		if op.Sent < op.Intended-time.Millisecond || op.Done < op.Sent || op.Kind != results.OK {
			t.Fatalf("history record out of order or not ok: %+v", op)
		}
		if want := time.Duration(op.Seq) * time.Millisecond; op.Intended-want > 50*time.Millisecond || want-op.Intended > 50*time.Millisecond {
			t.Fatalf("op %d intended at %v, want ≈%v (history offsets count from its start)", op.Seq, op.Intended, want)
		}
	}
}

// When MaxWorkers cannot cover rate × latency, the generator says it is the limit and counts
// what it could not send, instead of quietly sending less.
func TestGeneratorReportsWhenItIsTheLimit(t *testing.T) {
	slow := func(ctx context.Context, seq uint64, worker int) Outcome {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		return Outcome{Kind: OK}
	}
	rep, err := Run(context.Background(), Config{
		Pacer:      ConstantPacer{Rate: 400},
		Duration:   500 * time.Millisecond,
		Workers:    2,
		MaxWorkers: 4, // 4 / 50 ms = 80/s at most
	}, slow)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Limited || rep.WaitedForWorker == 0 {
		t.Fatalf("limited=%v waited=%d: want the generator flagged as the limit", rep.Limited, rep.WaitedForWorker)
	}
	if rep.Due != 200 || rep.Missed+rep.Requests != rep.Due || rep.Missed < 100 {
		t.Errorf("due %d, sent %d, missed %d: every due request must be sent or counted missed", rep.Due, rep.Requests, rep.Missed)
	}
	if rep.PeakWorkers != 4 {
		t.Errorf("peak workers %d, want the bound 4", rep.PeakWorkers)
	}
	// Latency counts from the intended time, so the queueing shows.
	if rep.P99() < 200*time.Millisecond {
		t.Errorf("p99 = %v; requests queued for a worker must carry their wait", rep.P99())
	}
}

func TestTimeoutIsUnknownAndBoundsTheRun(t *testing.T) {
	hang := func(ctx context.Context, seq uint64, worker int) Outcome {
		<-ctx.Done()
		return Outcome{Kind: Failed, Reason: ""}
	}
	rep, err := Run(context.Background(), Config{
		Pacer:    ConstantPacer{Rate: 100},
		Duration: 100 * time.Millisecond,
		Timeout:  50 * time.Millisecond,
	}, hang)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unknown != rep.Requests || rep.Requests != 10 || rep.Reasons["timeout"] != 10 {
		t.Fatalf("unknown %d of %d, reasons %v: a timed-out request's outcome is unknown", rep.Unknown, rep.Requests, rep.Reasons)
	}
	if rep.Elapsed > 2*time.Second {
		t.Errorf("run took %v; the timeout must bound requests in flight", rep.Elapsed)
	}
}

func TestCancelStopsPromptlyAndReportsWhatWasDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	op := func(ctx context.Context, seq uint64, worker int) Outcome {
		if n.Add(1) == 20 {
			cancel()
		}
		return Outcome{Kind: OK, Items: 3}
	}
	rep, err := Run(ctx, Config{Pacer: ConstantPacer{Rate: 200}, Duration: time.Minute}, op)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep == nil || rep.Requests < 20 || rep.Requests > 25 || rep.Items != 3*rep.Requests || rep.Missed != 0 {
		t.Fatalf("report after cancel: %+v", rep)
	}
	if rep.Elapsed > 5*time.Second {
		t.Errorf("cancel took %v to stop a 1-minute run", rep.Elapsed)
	}
}

func TestMaxRequestsBoundsTheRun(t *testing.T) {
	op := func(ctx context.Context, seq uint64, worker int) Outcome { return Outcome{Kind: OK} }
	for _, cfg := range []Config{
		{Pacer: ConstantPacer{Rate: 10_000}, Duration: 10 * time.Second, MaxRequests: 50},
		{Clients: 3, Duration: 10 * time.Second, MaxRequests: 50},
	} {
		rep, err := Run(context.Background(), cfg, op)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 50 || rep.Missed != 0 {
			t.Errorf("%s: sent %d, missed %d; want 50 and 0", rep.Model, rep.Requests, rep.Missed)
		}
	}
}

func TestOutcomesReasonsAndDetailReachReportAndHistory(t *testing.T) {
	hist := results.NewHistory(time.Now(), 100)
	op := func(ctx context.Context, seq uint64, worker int) Outcome {
		d := results.OpDetail{Type: results.OpTransfer, Key: seq, From: 1, To: 2, Amount: 10}
		switch seq % 4 {
		case 0:
			return Outcome{Kind: OK, Items: 2, Detail: d}
		case 1:
			return Outcome{Kind: Rejected, Reason: "insufficient_funds", Detail: d}
		case 2:
			return Outcome{Kind: Failed, Reason: "http 503", Detail: d}
		}
		return Outcome{Kind: Kind(42), Detail: d}
	}
	rep, err := Run(context.Background(), Config{Pacer: ConstantPacer{Rate: 1000}, Duration: 40 * time.Millisecond, History: hist}, op)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != 10 || rep.Rejected != 10 || rep.Failed != 20 || rep.Reasons["insufficient_funds"] != 10 {
		t.Fatalf("outcomes ok=%d rejected=%d failed=%d reasons=%v", rep.OK, rep.Rejected, rep.Failed, rep.Reasons)
	}
	if rep.Total.ItemsOK != 20 || rep.Items != 50 {
		t.Errorf("items ok %d (want 20), items %d (want 50)", rep.Total.ItemsOK, rep.Items)
	}
	for _, o := range hist.Ops() {
		if o.Key != o.Seq || o.Type != results.OpTransfer || o.Amount != 10 {
			t.Fatalf("history lost the op detail: %+v", o)
		}
		if o.Seq%4 == 1 && hist.Reason(o) != "insufficient_funds" {
			t.Fatalf("history reason %q for a rejected op", hist.Reason(o))
		}
	}
}

func TestConfigRejectsBadFields(t *testing.T) {
	for _, c := range []Config{
		{Pacer: ConstantPacer{Rate: 1}},
		{Duration: time.Second},
		{Pacer: ConstantPacer{Rate: 1}, Clients: 2, Duration: time.Second},
		{Pacer: ConstantPacer{Rate: 1}, Duration: time.Second, Workers: 10, MaxWorkers: 5},
		{Pacer: ConstantPacer{Rate: 1}, Duration: time.Second, Timeout: -1},
		{Clients: MaxWorkersLimit + 1, Duration: time.Second},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%s) accepted a bad config", fmt.Sprintf("%+v", c))
		}
	}
}
