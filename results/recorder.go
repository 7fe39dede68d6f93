package results

import (
	"errors"
	"fmt"
	"paylab/outcome"
	"runtime"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Defaults of a RecorderConfig.
const (
	DefaultWindow     = time.Second
	DefaultMaxLatency = 5 * time.Minute
	DefaultLateAfter  = 10 * time.Millisecond
	// MaxWindows bounds the number of windows one recorder keeps.
	MaxWindows = 1 << 16
	// maxStripes bounds the number of histogram stripes.
	maxStripes = 64
	// sigFigs is the precision of the run's total histograms (0.1%); windows use
	// windowSigFigs (1%) because there are many of them.
	sigFigs       = 3
	windowSigFigs = 2
)

// RecorderConfig sizes a Recorder. Start and Horizon are required; the rest have defaults.
type RecorderConfig struct {
	// Start is the wall time that sample offsets count from (the run's start).
	Start time.Time
	// Horizon is how long after Start the windows reach. Samples intended later are kept in
	// the totals and the last window, and counted in Figures.PastHorizon.
	Horizon time.Duration
	// Window is the width of one window of the time series; default one second.
	Window time.Duration
	// Stripes is the number of independently locked histogram sets; workers map onto them by
	// number. Default 2 × GOMAXPROCS (at most 64).
	Stripes int
	// MaxLatency is the highest latency tracked; larger values are recorded as MaxLatency and
	// counted in Figures.Clamped. Default five minutes.
	MaxLatency time.Duration
	// LateAfter is how far past its intended time a send may start before it counts as late.
	// Default 10 ms.
	LateAfter time.Duration
	// Metrics, if set, is updated with every sample.
	Metrics *Metrics
}

// Validate fills defaults and checks each field, naming it in the error.
func (c *RecorderConfig) Validate() error {
	if c.Start.IsZero() {
		return errors.New("recorder config: Start is required")
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Window < time.Millisecond {
		return fmt.Errorf("recorder config: Window %v is below 1ms", c.Window)
	}
	if c.Horizon <= 0 {
		return fmt.Errorf("recorder config: Horizon %v must be positive", c.Horizon)
	}
	if n := c.Horizon/c.Window + 1; n > MaxWindows {
		return fmt.Errorf("recorder config: Horizon %v / Window %v is %d windows, over the limit of %d", c.Horizon, c.Window, n, MaxWindows)
	}
	if c.Stripes == 0 {
		c.Stripes = min(2*runtime.GOMAXPROCS(0), maxStripes)
	}
	if c.Stripes < 1 || c.Stripes > maxStripes {
		return fmt.Errorf("recorder config: Stripes %d is outside 1..%d", c.Stripes, maxStripes)
	}
	if c.MaxLatency == 0 {
		c.MaxLatency = DefaultMaxLatency
	}
	if c.MaxLatency < time.Millisecond {
		return fmt.Errorf("recorder config: MaxLatency %v is below 1ms", c.MaxLatency)
	}
	if c.LateAfter == 0 {
		c.LateAfter = DefaultLateAfter
	}
	if c.LateAfter < 0 {
		return fmt.Errorf("recorder config: LateAfter %v is negative", c.LateAfter)
	}
	return nil
}

// Sample is one finished operation as the recorder sees it. Offsets count from the recorder's
// Start.
type Sample struct {
	Intended time.Duration // when the schedule said to send (closed model: when it was sent)
	Sent     time.Duration // when a worker started it
	Done     time.Duration // when its outcome was known
	Kind     outcome.Kind
	Items    uint32 // business operations carried; 0 is read as 1
	// Queued marks a send that waited for a worker because the generator was at its concurrency
	// bound (every worker held by a slow target): its lateness is the target's doing, so it is
	// not counted late (Figures.Late feeds the SaturationRule, which is about the lab's CPU).
	// Its latency still counts from Intended.
	Queued bool
}

// Recorder aggregates samples into HdrHistograms (latency from the intended send time, service
// time from the actual send, and send lag) and into windows keyed by intended send time. It is
// safe for concurrent use: each stripe has its own lock and histograms, and callers pass a
// stable stripe number (their worker number), so workers rarely contend. Memory is bounded by
// stripes × (3 dense histograms + one sparse histogram per window used), whatever the rate.
type Recorder struct {
	cfg     RecorderConfig
	nWin    int
	maxUS   int64
	stripes []stripe
}

type stripe struct {
	mu      sync.Mutex
	latency *hdrhistogram.Histogram // Done - Intended, µs
	service *hdrhistogram.Histogram // Done - Sent, µs
	lag     *hdrhistogram.Histogram // Sent - Intended, µs
	tally   tally
	last    time.Duration // latest Done
	windows []*window
	_       [64]byte // keep neighbouring stripes' locks off one cache line
}

// tally is the counts both totals and windows keep.
type tally struct {
	kinds       [outcome.NumKinds]uint64
	items       [outcome.NumKinds]uint64
	late        uint64
	clamped     uint64
	pastHorizon uint64
}

func (t *tally) add(o *tally) {
	for i := range t.kinds {
		t.kinds[i] += o.kinds[i]
		t.items[i] += o.items[i]
	}
	t.late += o.late
	t.clamped += o.clamped
	t.pastHorizon += o.pastHorizon
}

type window struct {
	tally   tally
	latency *hdrhistogram.PackedHistogram
}

// NewRecorder validates cfg (filling defaults) and returns an empty recorder.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Recorder{
		cfg:     cfg,
		nWin:    int(cfg.Horizon/cfg.Window) + 1,
		maxUS:   cfg.MaxLatency.Microseconds(),
		stripes: make([]stripe, cfg.Stripes),
	}
	for i := range r.stripes {
		s := &r.stripes[i]
		s.latency = r.newHist()
		s.service = r.newHist()
		s.lag = r.newHist()
		s.windows = make([]*window, r.nWin)
	}
	return r, nil
}

func (r *Recorder) newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, r.maxUS, sigFigs)
}

// Config returns the recorder's configuration with defaults filled.
func (r *Recorder) Config() RecorderConfig { return r.cfg }

// Record adds one sample. stripe is any stable number per caller (a worker number); it is
// reduced modulo the stripe count.
func (r *Recorder) Record(stripe int, s Sample) {
	if !s.Kind.Valid() {
		s.Kind = outcome.Failed
	}
	items := uint64(s.Items)
	if items == 0 {
		items = 1
	}
	latUS, clampedL := r.clamp(s.Done - s.Intended)
	svcUS, _ := r.clamp(s.Done - s.Sent)
	lagUS, _ := r.clamp(s.Sent - s.Intended)
	late := !s.Queued && s.Sent-s.Intended > r.cfg.LateAfter
	wi := int(s.Intended / r.cfg.Window)
	past := false
	if wi >= r.nWin {
		wi, past = r.nWin-1, true
	}
	if wi < 0 {
		wi = 0
	}

	st := &r.stripes[uint(stripe)%uint(len(r.stripes))]
	st.mu.Lock()
	st.latency.RecordValue(latUS)
	st.service.RecordValue(svcUS)
	st.lag.RecordValue(lagUS)
	w := st.windows[wi]
	if w == nil {
		w = &window{latency: hdrhistogram.NewPacked(1, r.maxUS, windowSigFigs)}
		st.windows[wi] = w
	}
	w.latency.RecordValue(latUS)
	for _, t := range [2]*tally{&st.tally, &w.tally} {
		t.kinds[s.Kind]++
		t.items[s.Kind] += items
		if late {
			t.late++
		}
		if clampedL {
			t.clamped++
		}
		if past {
			t.pastHorizon++
		}
	}
	if s.Done > st.last {
		st.last = s.Done
	}
	st.mu.Unlock()

	if m := r.cfg.Metrics; m != nil {
		m.observe(s, items, late)
	}
}

// clamp converts d to whole microseconds within the histograms' range.
func (r *Recorder) clamp(d time.Duration) (int64, bool) {
	us := d.Microseconds()
	switch {
	case us < 0:
		return 0, false
	case us > r.maxUS:
		return r.maxUS, true
	}
	return us, false
}

// Histograms are the merged histograms of a recorder, in microseconds. Each is a fresh copy
// owned by the caller.
type Histograms struct {
	Latency *hdrhistogram.Histogram // from intended send to outcome: what a user waits
	Service *hdrhistogram.Histogram // from actual send to outcome: what a closed-loop tool reports
	Lag     *hdrhistogram.Histogram // from intended to actual send: the generator's own delay
}

// Merged returns the run's histograms merged over all stripes.
func (r *Recorder) Merged() Histograms {
	h := Histograms{Latency: r.newHist(), Service: r.newHist(), Lag: r.newHist()}
	for i := range r.stripes {
		st := &r.stripes[i]
		st.mu.Lock()
		h.Latency.Merge(st.latency)
		h.Service.Merge(st.service)
		h.Lag.Merge(st.lag)
		st.mu.Unlock()
	}
	return h
}

// Total returns the figures over the whole run: from 0 to the last completion.
func (r *Recorder) Total() Figures {
	var t tally
	var last time.Duration
	for i := range r.stripes {
		st := &r.stripes[i]
		st.mu.Lock()
		t.add(&st.tally)
		last = max(last, st.last)
		st.mu.Unlock()
	}
	return makeFigures("total", 0, last, &t, r.Merged().Latency)
}

// Windows returns one Figures per window from the start to the last window with a sample.
// Latencies in windows have 1% precision.
func (r *Recorder) Windows() []Figures {
	lastUsed := -1
	for i := range r.stripes {
		st := &r.stripes[i]
		st.mu.Lock()
		for wi := len(st.windows) - 1; wi > lastUsed; wi-- {
			if st.windows[wi] != nil {
				lastUsed = wi
				break
			}
		}
		st.mu.Unlock()
	}
	out := make([]Figures, 0, lastUsed+1)
	h := hdrhistogram.New(1, r.maxUS, windowSigFigs)
	for wi := 0; wi <= lastUsed; wi++ {
		var t tally
		h.Reset()
		r.mergeWindow(wi, &t, h)
		from := time.Duration(wi) * r.cfg.Window
		out = append(out, makeFigures(fmt.Sprintf("w%d", wi), from, from+r.cfg.Window, &t, h))
	}
	return out
}

func (r *Recorder) mergeWindow(wi int, t *tally, h *hdrhistogram.Histogram) {
	for i := range r.stripes {
		st := &r.stripes[i]
		st.mu.Lock()
		if w := st.windows[wi]; w != nil {
			t.add(&w.tally)
			w.latency.MergeInto(h)
		}
		st.mu.Unlock()
	}
}

// Span returns the figures of the operations intended in [from, to), named name. Both ends are
// rounded to whole windows (from down, to up), so a phase is exact to one window; rates are
// per second of the rounded span.
func (r *Recorder) Span(name string, from, to time.Duration) Figures {
	w := r.cfg.Window
	first := int(max(from, 0) / w)
	end := int((to + w - 1) / w)
	end = min(end, r.nWin)
	var t tally
	h := hdrhistogram.New(1, r.maxUS, windowSigFigs)
	for wi := first; wi < end; wi++ {
		r.mergeWindow(wi, &t, h)
	}
	return makeFigures(name, time.Duration(first)*w, time.Duration(max(end, first))*w, &t, h)
}

// Phases returns Span figures for each phase.
func (r *Recorder) Phases(phases []Phase) []Figures {
	out := make([]Figures, 0, len(phases))
	for _, p := range phases {
		out = append(out, r.Span(p.Name, p.Start, p.End))
	}
	return out
}
