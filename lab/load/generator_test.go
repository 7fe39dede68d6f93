package load

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"paylab/outcome"
	"paylab/results"
)

// stallOp is an in-process target for tests inside a synctest bubble, where time is virtual:
// a request that arrives in [from, to) (offsets from the bubble's start) waits until to, as it
// would behind a GC pause or a leader election; any other request is answered at once. It
// counts the requests it saw.
type stallOp struct {
	start    time.Time
	from, to time.Duration
	hits     atomic.Int64
}

func (s *stallOp) op(ctx context.Context, seq uint64, worker int) Outcome {
	s.hits.Add(1)
	if at := time.Since(s.start); at >= s.from && at < s.to {
		select {
		case <-time.After(s.to - at):
		case <-ctx.Done():
			return Outcome{Kind: outcome.Failed, Reason: "cancelled"}
		}
	}
	return Outcome{Kind: outcome.OK}
}

// The Done-when test of issue 5: a target that stalls for 1 s under 1,000 req/s must put ≈1 s
// in the p99.9 (as wrk2 would), because every request due during the stall waits for it; a
// closed-model run against the same stall reports a tail that hides it. Time is virtual
// (synctest), so the figures are exact whatever the machine's load; the same run over real
// HTTP is BenchmarkStallOverHTTP.
func TestIntendedSendTimeExposesAStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := &stallOp{start: time.Now(), from: 500 * time.Millisecond, to: 1500 * time.Millisecond}
		rep, err := Run(context.Background(), Config{
			Pacer:      ConstantPacer{Rate: 1000},
			Duration:   2 * time.Second,
			MaxWorkers: 2000,
			Timeout:    5 * time.Second,
		}, tg.op)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 2000 || rep.OK != 2000 || rep.Due != 2000 || rep.Missed != 0 || rep.Late != 0 || rep.Limited {
			t.Fatalf("open model: %d ok of %d sent, %d due, %d missed, %d late, limited %v; want 2000 all ok and on time",
				rep.OK, rep.Requests, rep.Due, rep.Missed, rep.Late, rep.Limited)
		}
		// The requests due at 500, 501, …, 1499 ms wait until 1500 ms: latencies of 1000, 999,
		// …, 1 ms from their intended times; the other 1,000 take none. Nearest rank over
		// 2,000: p99 is the 1,980th (980 ms), p99.9 the 1,998th (998 ms); the histogram keeps
		// three significant digits.
		near := func(what string, got, want time.Duration) {
			t.Helper()
			if d := got - want; d < -2*time.Millisecond || d > 2*time.Millisecond {
				t.Errorf("open model %s = %v, want %v: the stall must show in the tail", what, got, want)
			}
		}
		near("p99.9", rep.P999(), 998*time.Millisecond)
		near("p99", rep.P99(), 980*time.Millisecond)
		near("max", rep.Max(), time.Second)
		near("p50", rep.P50(), 0)
		// Every request due during the stall held a worker: the pool grew to rate × stall.
		if rep.PeakWorkers < 1000 || rep.PeakWorkers > 1010 {
			t.Errorf("peak workers %d: the pool should have grown to rate × stall = 1000", rep.PeakWorkers)
		}

		// Closed model, same stall: one client sending back to back with 1 ms think time. The one
		// request that met the stall waited 1 s; every other request took no time, so the tail
		// hides the stall (coordinated omission).
		tg2 := &stallOp{start: time.Now(), from: 500 * time.Millisecond, to: 1500 * time.Millisecond}
		closed, err := Run(context.Background(), Config{
			Clients:   1,
			ThinkTime: time.Millisecond,
			Duration:  2 * time.Second,
			Timeout:   5 * time.Second,
		}, tg2.op)
		if err != nil {
			t.Fatal(err)
		}
		if closed.Max() < 999*time.Millisecond || closed.Max() > 1001*time.Millisecond {
			t.Errorf("closed model max = %v: the one stalled request should still be seen", closed.Max())
		}
		if p := closed.P99(); p != 0 {
			t.Errorf("closed model p99 = %v, want the stall hidden (0): coordinated omission", p)
		}
		// 500 requests before the stall, the stalled one, then one a millisecond for 0.5 s.
		if closed.Requests < 990 || closed.Requests > 1010 {
			t.Errorf("closed model sent %d requests, want ≈1000 (one a millisecond but for the stalled second)", closed.Requests)
		}
		t.Logf("open: p99=%v p99.9=%v peak workers %d; closed: p99=%v p99.9=%v max=%v over %d requests",
			rep.P99(), rep.P999(), rep.PeakWorkers, closed.P99(), closed.P999(), closed.Max(), closed.Requests)
	})
}

// On an idle target the schedule is met exactly: every due request is sent at its intended
// time, so the achieved rate, measured from actual send times, is the target rate. Time is
// virtual (synctest); the achieved rate over real HTTP on this machine is
// BenchmarkIdleTargetOverHTTP's figure.
func TestIdleTargetGetsExactlyTheSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := &stallOp{start: time.Now()}
		hist := results.NewHistory(time.Now(), 10_000)
		rep, err := Run(context.Background(), Config{
			Pacer:    ConstantPacer{Rate: 1000},
			Duration: time.Second,
			History:  hist,
		}, tg.op)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 1000 || rep.Due != 1000 || rep.Missed != 0 || rep.Late != 0 || rep.Limited {
			t.Fatalf("sent %d, due %d, missed %d, late %d, limited %v; want 1000, 1000, 0, 0, false",
				rep.Requests, rep.Due, rep.Missed, rep.Late, rep.Limited)
		}
		if got := tg.hits.Load(); got != 1000 {
			t.Fatalf("target saw %d requests, want 1000", got)
		}
		// Rate from the actual send times of the first and last request (999 intervals).
		if rep.FirstSent != 0 || rep.LastSent != 999*time.Millisecond {
			t.Errorf("first sent at %v, last at %v; want 0 and 999ms", rep.FirstSent, rep.LastSent)
		}
		if rep.Rate != 1000 || rep.TargetRate != 1000 || rep.SendWindow != time.Second {
			t.Errorf("reported rate %.1f/s of %.1f/s over %v, want exactly 1000/s over 1s", rep.Rate, rep.TargetRate, rep.SendWindow)
		}
		// Every request is in the history with its timing, in order of intended time, sent on time.
		ops := hist.Ops()
		if len(ops) != 1000 {
			t.Fatalf("history has %d ops, want 1000", len(ops))
		}
		for _, op := range ops {
			want := time.Duration(op.Seq) * time.Millisecond
			if op.Intended != want || op.Sent != want || op.Done != want || op.Kind != outcome.OK {
				t.Fatalf("history record %+v: want intended = sent = done = %v, ok (history offsets count from its start)", op, want)
			}
		}
	})
}

// When MaxWorkers cannot cover rate × latency, the generator says it is the limit and counts
// what it could not send, instead of quietly sending less. Virtual time (synctest): the figures
// follow from the configuration alone.
func TestGeneratorReportsWhenItIsTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := func(ctx context.Context, seq uint64, worker int) Outcome {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
			return Outcome{Kind: outcome.OK}
		}
		rec, err := results.NewRecorder(results.RecorderConfig{Start: time.Now(), Horizon: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Run(context.Background(), Config{
			Pacer:      ConstantPacer{Rate: 400},
			Duration:   500 * time.Millisecond,
			Workers:    2,
			MaxWorkers: 4, // 4 / 50 ms = 80/s at most
			Recorder:   rec,
		}, slow)
		if err != nil {
			t.Fatal(err)
		}
		// The sends were late because the target held every worker, not because the lab was short of
		// CPU: the generator's report counts them late, the recorder (whose per-window count feeds the
		// saturation rule) does not.
		if tot := rec.Total(); rep.Late == 0 || tot.Late != 0 {
			t.Errorf("late: report %d, recorder %d; want the report > 0 and the recorder 0 (queued, not late)", rep.Late, tot.Late)
		}
		if !rep.Limited || rep.WaitedForWorker == 0 || !strings.Contains(rep.LimitReason, "all 4 workers were busy") {
			t.Fatalf("limited=%v waited=%d reason %q: want the generator flagged as the limit, for want of workers",
				rep.Limited, rep.WaitedForWorker, rep.LimitReason)
		}
		// 4 workers × 50 ms each send at most 4 × ⌈510 ms / 50 ms⌉ = 44 requests before sending
		// stops at Duration + LateAfter; the rest of the 200 due are missed.
		if rep.Due != 200 || rep.Missed+rep.Requests != rep.Due || rep.Requests < 40 || rep.Requests > 44 {
			t.Errorf("due %d, sent %d, missed %d: want 200 due, 40–44 sent (80/s), every other one counted missed",
				rep.Due, rep.Requests, rep.Missed)
		}
		if rep.PeakWorkers != 4 {
			t.Errorf("peak workers %d, want the bound 4", rep.PeakWorkers)
		}
		// Latency counts from the intended time, so the queueing shows: the last requests sent
		// were due about 400 ms before they could be sent.
		if rep.P99() < 300*time.Millisecond || rep.Max() > 600*time.Millisecond {
			t.Errorf("p99 = %v, max %v; requests queued for a worker must carry their wait", rep.P99(), rep.Max())
		}
	})
}

// A request that runs into its timeout is unknown (it may have taken effect), and the timeout
// bounds how long the run waits for requests in flight.
func TestTimeoutIsUnknownAndBoundsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := func(ctx context.Context, seq uint64, worker int) Outcome {
			<-ctx.Done()
			return Outcome{Kind: outcome.Failed, Reason: ""}
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
		// The last request is due at 90 ms and times out 50 ms later.
		if rep.Elapsed != 140*time.Millisecond {
			t.Errorf("run took %v, want 140ms: the timeout must bound requests in flight", rep.Elapsed)
		}
	})
}

func TestCancelStopsPromptlyAndReportsWhatWasDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var n atomic.Int64
		op := func(ctx context.Context, seq uint64, worker int) Outcome {
			if n.Add(1) == 20 {
				cancel()
			}
			return Outcome{Kind: outcome.OK, Items: 3}
		}
		rep, err := Run(ctx, Config{Pacer: ConstantPacer{Rate: 200}, Duration: time.Minute}, op)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		// The 20th request (due at 95 ms) cancels the run; nothing after it is sent or missed.
		if rep == nil || rep.Requests != 20 || rep.Items != 3*rep.Requests || rep.Missed != 0 || rep.Due != 20 {
			t.Fatalf("report after cancel: %+v", rep)
		}
		if rep.Elapsed != 95*time.Millisecond || rep.SendWindow != 95*time.Millisecond {
			t.Errorf("cancel at 95ms: elapsed %v, send window %v; want both 95ms (stopped at once)", rep.Elapsed, rep.SendWindow)
		}
	})
}

func TestMaxRequestsBoundsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op := func(ctx context.Context, seq uint64, worker int) Outcome { return Outcome{Kind: outcome.OK} }
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
	})
}

func TestOutcomesReasonsAndDetailReachReportAndHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hist := results.NewHistory(time.Now(), 100)
		op := func(ctx context.Context, seq uint64, worker int) Outcome {
			d := results.OpDetail{Type: results.OpTransfer, Key: seq, From: 1, To: 2, Amount: 10}
			switch seq % 4 {
			case 0:
				return Outcome{Kind: outcome.OK, Items: 2, Detail: d}
			case 1:
				return Outcome{Kind: outcome.Rejected, Reason: "insufficient_funds", Detail: d}
			case 2:
				return Outcome{Kind: outcome.Failed, Reason: "http 503", Detail: d}
			}
			return Outcome{Kind: outcome.Kind(42), Detail: d}
		}
		rep, err := Run(context.Background(), Config{Pacer: ConstantPacer{Rate: 1000}, Duration: 40 * time.Millisecond, History: hist}, op)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK != 10 || rep.Rejected != 10 || rep.Failed != 20 || rep.Reasons["insufficient_funds"] != 10 {
			t.Fatalf("outcomes ok=%d rejected=%d failed=%d reasons=%v", rep.OK, rep.Rejected, rep.Failed, rep.Reasons)
		}
		if rep.Reasons["invalid outcome kind 42"] != 10 {
			t.Errorf("reasons %v: an invalid kind must be a failure that says so", rep.Reasons)
		}
		if rep.Total.ItemsOK != 20 || rep.Items != 50 {
			t.Errorf("items ok %d (want 20), items %d (want 50)", rep.Total.ItemsOK, rep.Items)
		}
		if hist.Len() != 40 {
			t.Fatalf("history has %d ops, want 40", hist.Len())
		}
		for _, o := range hist.Ops() {
			if o.Key != o.Seq || o.Type != results.OpTransfer || o.Amount != 10 {
				t.Fatalf("history lost the op detail: %+v", o)
			}
			if o.Seq%4 == 1 && hist.Reason(o) != "insufficient_funds" {
				t.Fatalf("history reason %q for a rejected op", hist.Reason(o))
			}
		}
	})
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
