package load

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"paylab/outcome"
	"paylab/results"
)

// Outcome is what an operation reports back to the generator.
type Outcome struct {
	Kind outcome.Kind
	// Reason says why a request was rejected or failed ("insufficient_funds", "http 503",
	// "timeout"). Empty for OK. Reasons are counted per text, so keep them low-cardinality.
	Reason string
	// Items is how many business operations the request carried (a batch of 4,096 transfers
	// is 4,096); 0 counts as 1. Throughput is reported in items/s as well as requests/s.
	Items int
	// Detail is copied into the history record (operation type, idempotency key, accounts,
	// amount). The generator does not read it.
	Detail results.OpDetail
}

// OpFunc performs one request. seq is the request's sequence number (unique in the run,
// starting at 0) and worker the number of the goroutine running it (stable for the worker's
// life, below Config.MaxWorkers), e.g. to pick a connection or a per-worker random source.
// ctx carries the per-request timeout and the run's cancellation; an OpFunc must return
// soon after ctx is done. It is called concurrently from many workers.
type OpFunc func(ctx context.Context, seq uint64, worker int) Outcome

// Defaults and bounds of a Config.
const (
	DefaultWorkers    = 8
	DefaultMaxWorkers = 10_000
	DefaultTimeout    = 10 * time.Second
	// MaxWorkersLimit bounds MaxWorkers and Clients.
	MaxWorkersLimit = 100_000
	// maxReasons bounds the distinct reasons a Report counts; the rest count as "other".
	maxReasons = 64
	// maxMissedScan bounds the scan of a pacer without Hits when counting missed sends.
	maxMissedScan = 10_000_000
)

// Config describes one run of the generator. Duration is required, and so is exactly one of
// Pacer (open model) and Clients (closed model).
type Config struct {
	// Pacer schedules requests (open model): each request is due at a time the pacer fixes,
	// whatever the target does, and its latency counts from that time.
	Pacer Pacer
	// Clients > 0 selects the closed model instead: that many clients, each sending its next
	// request when the previous one finished (plus ThinkTime). Latency counts from the actual
	// send, so a stall hides in it: offered for comparison, not for verdicts.
	Clients int
	// ThinkTime is the pause of a closed-model client between requests.
	ThinkTime time.Duration

	// Duration bounds the schedule: requests due at or after Duration are not sent, and no
	// request is sent later than Duration + LateAfter (those due but unsent are missed).
	// Requests in flight at that point get up to Timeout to finish.
	Duration time.Duration
	// MaxRequests bounds the number of requests sent; 0 means only Duration bounds them.
	MaxRequests uint64

	// Workers is the number of workers started up front (open model; default 8). More are
	// started whenever a request is due and none is idle, up to MaxWorkers, so concurrency
	// follows Little's law (rate × latency).
	Workers int
	// MaxWorkers bounds concurrent requests (default 10,000). At the bound, due requests wait
	// for a worker: they are sent late (and counted) and their latency still counts from the
	// intended time.
	MaxWorkers int
	// Timeout bounds each request (default 10 s). A request whose context expired and that the
	// OpFunc reports as Failed is recorded as Unknown: it may have taken effect.
	Timeout time.Duration
	// LateAfter is how far past its intended time a send may start before it counts as late
	// (default results.DefaultLateAfter, 10 ms).
	LateAfter time.Duration

	// Recorder, if set, receives every sample; its Start is the time base of the offsets (the
	// lab passes one recorder for the whole run). If nil, Run creates one starting at the run's
	// start.
	Recorder *results.Recorder
	// History, if set, receives one record per request. Recording costs a lock and ~70 bytes per
	// request; leave it nil for pure throughput benchmarks.
	History *results.History
	// Metrics, if set, is updated live (in-flight requests, workers, missed sends). Give the
	// same Metrics to the Recorder to count outcomes and latency.
	Metrics *results.Metrics
}

// DefaultConfig returns a constant 100 requests/s open-model run of 10 s with the defaults.
func DefaultConfig() Config {
	return Config{
		Pacer:      ConstantPacer{Rate: 100},
		Duration:   10 * time.Second,
		Workers:    DefaultWorkers,
		MaxWorkers: DefaultMaxWorkers,
		Timeout:    DefaultTimeout,
		LateAfter:  results.DefaultLateAfter,
	}
}

// Validate fills defaults and checks every field, naming it in the error.
func (c *Config) Validate() error {
	if c.Duration <= 0 {
		return fmt.Errorf("load config: Duration %v must be positive (it bounds the run)", c.Duration)
	}
	switch {
	case c.Pacer == nil && c.Clients == 0:
		return errors.New("load config: set Pacer (open model) or Clients (closed model)")
	case c.Pacer != nil && c.Clients != 0:
		return errors.New("load config: Pacer and Clients are exclusive: choose the open or the closed model")
	case c.Clients < 0 || c.Clients > MaxWorkersLimit:
		return fmt.Errorf("load config: Clients %d is outside 1..%d", c.Clients, MaxWorkersLimit)
	}
	if c.ThinkTime < 0 {
		return fmt.Errorf("load config: ThinkTime %v is negative", c.ThinkTime)
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = max(DefaultMaxWorkers, c.Workers)
	}
	if c.MaxWorkers < 1 || c.MaxWorkers > MaxWorkersLimit {
		return fmt.Errorf("load config: MaxWorkers %d is outside 1..%d", c.MaxWorkers, MaxWorkersLimit)
	}
	if c.Workers < 1 || c.Workers > c.MaxWorkers {
		return fmt.Errorf("load config: Workers %d is outside 1..MaxWorkers (%d)", c.Workers, c.MaxWorkers)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return fmt.Errorf("load config: Timeout %v is negative", c.Timeout)
	}
	if c.LateAfter == 0 {
		c.LateAfter = results.DefaultLateAfter
	}
	if c.LateAfter < 0 {
		return fmt.Errorf("load config: LateAfter %v is negative", c.LateAfter)
	}
	return nil
}

// tick is one due request handed from the pacing loop to a worker.
type tick struct {
	seq      uint64
	intended time.Duration // since t0
	// queued: it fell due before the pacing loop last finished waiting for a worker at the
	// MaxWorkers bound, so any lateness is the concurrency bound's (the target was slow), not
	// the lab's CPU; results.Sample.Queued.
	queued bool
}

// run holds the state shared by a run's goroutines.
type run struct {
	cfg   Config
	op    OpFunc
	rec   *results.Recorder
	t0    time.Time
	shift time.Duration // t0 - recorder start
	hist  time.Duration // t0 - history start

	sent      atomic.Uint64
	items     atomic.Uint64
	inFlight  atomic.Int64
	firstSent atomic.Int64 // since t0; -1 until set
	lastSent  atomic.Int64
	kinds     [outcome.NumKinds]atomic.Uint64 // by outcome.Kind
	late      atomic.Uint64

	mu      sync.Mutex
	reasons map[string]uint64
}

// Run drives op according to cfg until the schedule ends, Duration passes, MaxRequests are
// sent or ctx is done, waits for requests in flight (each bounded by Timeout), and returns the
// report. It always returns a report once the config is valid; the error is ctx's when the run
// was cancelled early, and the report then covers what was done.
func Run(ctx context.Context, cfg Config, op OpFunc) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if op == nil {
		return nil, errors.New("load: op is nil")
	}
	r := &run{cfg: cfg, op: op, reasons: map[string]uint64{}}
	r.firstSent.Store(-1)
	r.t0 = time.Now()
	r.rec = cfg.Recorder
	if r.rec == nil {
		rec, err := results.NewRecorder(results.RecorderConfig{
			Start:     r.t0,
			Horizon:   cfg.Duration + cfg.Timeout,
			LateAfter: cfg.LateAfter,
			Metrics:   cfg.Metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("load: create recorder: %w", err)
		}
		r.rec = rec
	}
	r.shift = r.t0.Sub(r.rec.Config().Start)
	if cfg.History != nil {
		r.hist = r.t0.Sub(cfg.History.Start())
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rep *Report
	if cfg.Clients > 0 {
		rep = r.closed(runCtx)
	} else {
		rep = r.open(runCtx)
	}
	return rep, ctx.Err()
}

// open runs the open model: one pacing loop feeding a pool of workers that grows on demand.
func (r *run) open(ctx context.Context) *Report {
	p := &openPool{r: r, ctx: ctx, ticks: make(chan tick)}
	for range r.cfg.Workers {
		p.spawn()
	}
	st := r.pace(ctx, p)
	close(p.ticks)
	p.wg.Wait()
	return r.openReport(st, p.workers)
}

// openPool is the open model's workers: each takes ticks from one unbuffered channel, so a tick
// is handed over only to a worker that is free. The pacing loop alone grows it (spawn).
type openPool struct {
	r       *run
	ctx     context.Context
	ticks   chan tick
	wg      sync.WaitGroup
	workers int
}

// spawn starts one more worker; it ends when ticks is closed.
func (p *openPool) spawn() {
	id := p.workers
	p.workers++
	if p.r.cfg.Metrics != nil {
		p.r.cfg.Metrics.SetWorkers(p.workers)
	}
	p.wg.Go(func() {
		for t := range p.ticks {
			p.r.do(p.ctx, id, t.seq, t.intended, t.queued)
		}
	})
}

// openState is what the pacing loop knows when it stops; the report is made from it.
type openState struct {
	prevDue     time.Duration // the due time of the last request looked at
	hits        uint64        // requests handed to workers
	waited      uint64        // due requests that found every worker busy at the bound
	scheduleEnd bool          // the schedule, not ctx or MaxRequests, ended the loop
	blockedHit  bool          // a due request was never handed over
	stopAt      time.Duration // when the loop stopped, since t0
	waitedUntil time.Duration // when the loop last stopped waiting at the bound (-1: never)
}

// pace is the open model's pacing loop: it waits for each request's intended send time (the
// pacer's schedule from t0, never from when the previous request went out) and hands it to a
// worker, until the schedule ends, MaxRequests are sent or ctx is done.
func (r *run) pace(ctx context.Context, p *openPool) openState {
	cfg := r.cfg
	// Sending stops at Duration plus LateAfter: a request due just before Duration whose timer
	// fired a little late is still sent (and counted late if it is); one that cannot be sent
	// by then is missed.
	sendEnd := cfg.Duration + cfg.LateAfter
	end := time.NewTimer(sendEnd - time.Since(r.t0))
	defer end.Stop()
	wake := time.NewTimer(0)
	defer wake.Stop()
	<-wake.C

	st := openState{waitedUntil: -1}
pacing:
	for {
		if cfg.MaxRequests > 0 && st.hits >= cfg.MaxRequests {
			break
		}
		wait, stop := cfg.Pacer.Pace(st.prevDue, st.hits)
		due := st.prevDue + wait
		if stop || due >= cfg.Duration {
			st.scheduleEnd = true
			break
		}
		st.prevDue = due
		if d := due - time.Since(r.t0); d > 0 {
			wake.Reset(d)
			select {
			case <-wake.C:
			case <-ctx.Done():
				break pacing
			}
		}
		if time.Since(r.t0) >= sendEnd {
			st.scheduleEnd, st.blockedHit = true, true // too late to send: the rest are missed
			break
		}
		t := tick{seq: st.hits, intended: due, queued: due <= st.waitedUntil}
		if !r.handOver(ctx, p, &st, t, end.C) {
			break
		}
		st.hits++
	}
	st.stopAt = time.Since(r.t0)
	return st
}

// handOver gives t to a worker: to a free one at once, else after yielding once, else to a new
// worker, else — every worker busy at MaxWorkers — to the first that frees up, t then counting as
// queued. It returns false, with st saying why, when ctx or the end of sending came first: t was
// never handed over.
func (r *run) handOver(ctx context.Context, p *openPool, st *openState, t tick, end <-chan time.Time) bool {
	select {
	case p.ticks <- t:
		return true
	case <-ctx.Done():
		st.blockedHit = true
		return false
	default:
	}
	// No worker is waiting. Workers readied by earlier sends may simply not have run yet (the
	// pacing loop does not yield while it catches up, notably with one core): yield once before
	// growing the pool.
	runtime.Gosched()
	select {
	case p.ticks <- t:
		return true
	default:
	}
	atBound := p.workers >= r.cfg.MaxWorkers
	if !atBound {
		p.spawn()
	} else {
		st.waited++
		t.queued = true
	}
	select {
	case p.ticks <- t:
	case <-ctx.Done():
		st.blockedHit = true
		return false
	case <-end:
		st.scheduleEnd, st.blockedHit = true, true
		return false
	}
	if atBound {
		st.waitedUntil = time.Since(r.t0)
	}
	return true
}

// openReport is the open model's report: the send window is Duration when the schedule ended the
// run, else as long as the loop ran; requests due in it and not sent are missed (coordinated
// omission is counted, not hidden).
func (r *run) openReport(st openState, workers int) *Report {
	cfg := r.cfg
	rep := r.report()
	rep.Model = "open"
	rep.Pacer = describe(cfg.Pacer)
	rep.PeakWorkers = workers
	rep.WaitedForWorker = st.waited
	window := st.stopAt
	if st.scheduleEnd {
		window = cfg.Duration
	}
	rep.SendWindow = window
	if window > 0 {
		rep.Rate = float64(rep.Requests) / window.Seconds()
	}
	rep.Due = r.due(window, st.hits, st.prevDue, st.blockedHit, st.scheduleEnd)
	if rep.Due > rep.Requests {
		rep.Missed = rep.Due - rep.Requests
	}
	if window > 0 {
		rep.TargetRate = float64(rep.Due) / window.Seconds()
	}
	if cfg.Metrics != nil && rep.Missed > 0 {
		cfg.Metrics.AddMissed(rep.Missed)
	}
	rep.judge()
	return rep
}

// due counts the requests the schedule called for before window ended (capped by
// MaxRequests). hits were handed to workers; prevDue is the due time of the last one looked at.
func (r *run) due(window time.Duration, hits uint64, prevDue time.Duration, blocked, scheduleEnd bool) uint64 {
	cfg := r.cfg
	if !scheduleEnd && !blocked {
		return hits // stopped by ctx or MaxRequests while on schedule: nothing was missed
	}
	var n uint64
	if h, ok := cfg.Pacer.(Hitter); ok {
		n = h.Hits(window - 1)
	} else {
		n = hits
		for range maxMissedScan {
			w, stop := cfg.Pacer.Pace(prevDue, n)
			if stop || prevDue+w >= window {
				break
			}
			prevDue += w
			n++
		}
	}
	if cfg.MaxRequests > 0 {
		n = min(n, cfg.MaxRequests)
	}
	return max(n, hits)
}

// closed runs the closed model: Clients goroutines, each sending back to back.
func (r *run) closed(ctx context.Context) *Report {
	cfg := r.cfg
	var next atomic.Uint64
	sendCtx, stop := context.WithTimeout(ctx, cfg.Duration-time.Since(r.t0))
	defer stop()
	var wg sync.WaitGroup
	for id := range cfg.Clients {
		wg.Go(func() {
			var pause *time.Timer
			if cfg.ThinkTime > 0 {
				pause = time.NewTimer(cfg.ThinkTime)
				defer pause.Stop()
				<-pause.C
			}
			for sendCtx.Err() == nil {
				seq := next.Add(1) - 1
				if cfg.MaxRequests > 0 && seq >= cfg.MaxRequests {
					return
				}
				r.do(ctx, id, seq, time.Since(r.t0), false)
				if pause != nil {
					pause.Reset(cfg.ThinkTime)
					select {
					case <-pause.C:
					case <-sendCtx.Done():
						return
					}
				}
			}
		})
	}
	wg.Wait()
	stopAt := min(time.Since(r.t0), cfg.Duration)
	rep := r.report()
	rep.Model = "closed"
	rep.Pacer = fmt.Sprintf("closed, %d clients", cfg.Clients)
	rep.PeakWorkers = cfg.Clients
	rep.SendWindow = stopAt
	rep.Due = rep.Requests
	if stopAt > 0 {
		rep.Rate = float64(rep.Requests) / stopAt.Seconds()
		rep.TargetRate = rep.Rate
	}
	rep.judge()
	return rep
}

// do sends one request and records it. intended is since t0; queued as tick.queued.
func (r *run) do(ctx context.Context, worker int, seq uint64, intended time.Duration, queued bool) {
	cfg := r.cfg
	sent := time.Since(r.t0)
	r.firstSent.CompareAndSwap(-1, int64(sent))
	r.inFlight.Add(1)
	if cfg.Metrics != nil {
		cfg.Metrics.AddInFlight(1)
	}
	opCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	out := r.op(opCtx, seq, worker)
	expired := errors.Is(opCtx.Err(), context.DeadlineExceeded)
	cancel()
	done := time.Since(r.t0)
	r.inFlight.Add(-1)
	if cfg.Metrics != nil {
		cfg.Metrics.AddInFlight(-1)
	}
	for {
		last := r.lastSent.Load()
		if int64(sent) <= last || r.lastSent.CompareAndSwap(last, int64(sent)) {
			break
		}
	}

	if !out.Kind.Valid() {
		out.Kind, out.Reason = outcome.Failed, fmt.Sprintf("invalid outcome kind %d", out.Kind)
	}
	if expired && out.Kind == outcome.Failed {
		out.Kind = outcome.Unknown
		if out.Reason == "" {
			out.Reason = "timeout"
		}
	}
	items := uint32(max(out.Items, 1))
	r.kinds[out.Kind].Add(1)
	if sent-intended > cfg.LateAfter {
		r.late.Add(1)
	}
	r.sent.Add(1)
	r.items.Add(uint64(items))
	r.rec.Record(worker, results.Sample{
		Intended: r.shift + intended,
		Sent:     r.shift + sent,
		Done:     r.shift + done,
		Kind:     out.Kind,
		Items:    items,
		Queued:   queued,
	})
	if out.Reason != "" {
		r.mu.Lock()
		if _, ok := r.reasons[out.Reason]; ok || len(r.reasons) < maxReasons {
			r.reasons[out.Reason]++
		} else {
			r.reasons["(other)"]++
		}
		r.mu.Unlock()
	}
	if h := cfg.History; h != nil {
		h.Add(results.Op{
			OpDetail: out.Detail,
			Seq:      seq,
			Intended: r.hist + intended,
			Sent:     r.hist + sent,
			Done:     r.hist + done,
			Items:    items,
			Client:   uint16(min(worker, 1<<16-1)),
			Kind:     out.Kind,
		}, out.Reason)
	}
}

func describe(p Pacer) string {
	if s, ok := p.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", p)
}
