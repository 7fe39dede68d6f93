package results

import (
	"paylab/outcome"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Phase is a named stretch of a run (before, during and after each fault), as offsets from the
// run's start.
type Phase struct {
	Name  string        `json:"name"`
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
}

// Latency summarises a latency distribution. Durations are nanoseconds in JSON.
type Latency struct {
	Count int64         `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// LatencyOf summarises a histogram recorded in microseconds.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(),
		Min:   us(h.Min()),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// Figures are the key numbers of a span of a run (the whole run, one window, one phase).
// Operations belong to the span in which they were intended to be sent.
type Figures struct {
	Name  string        `json:"name"`
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`

	Requests uint64 `json:"requests"` // operations finished, every kind
	OK       uint64 `json:"ok"`
	Rejected uint64 `json:"rejected"`
	Failed   uint64 `json:"failed"`
	Unknown  uint64 `json:"unknown"`
	Items    uint64 `json:"items"`    // business operations carried by all requests
	ItemsOK  uint64 `json:"items_ok"` // business operations carried by OK requests
	Late     uint64 `json:"late"`     // sends that started later than LateAfter past their intended time, not counting Sample.Queued ones
	// Clamped counts latencies above the recorder's MaxLatency, recorded as MaxLatency.
	Clamped uint64 `json:"clamped,omitempty"`
	// PastHorizon counts operations intended after the recorder's horizon (kept in the last window).
	PastHorizon uint64 `json:"past_horizon,omitempty"`

	RequestRate float64 `json:"request_rate"` // requests per second of the span
	OKRate      float64 `json:"ok_rate"`      // OK requests per second
	ItemRate    float64 `json:"item_rate"`    // items of OK requests per second
	ErrorRate   float64 `json:"error_rate"`   // (failed + unknown) / requests
	UnknownRate float64 `json:"unknown_rate"` // unknown / requests

	Latency Latency `json:"latency"` // from intended send time to outcome

	// Health is the lab's own condition in the span (nil when it was not measured, e.g. `paylab
	// load` against an outside system or a file written before lab health existed).
	Health *Health `json:"health,omitempty"`

	// Backend is what the system did behind its gateways in the span (nil when not measured).
	Backend *Backend `json:"backend,omitempty"`
}

// Backend counts what happened behind a lab's gateways in a span: LedgerReads, the balance reads the
// gateways sent to the ledger (linearizable reads, and stale reads their cache did not answer), and
// CacheHits, the stale reads their balance cache answered. A cache avalanche shows as LedgerReads jumping
// while CacheHits falls.
type Backend struct {
	LedgerReads uint64 `json:"ledger_reads"`
	CacheHits   uint64 `json:"cache_hits"`
}

func makeFigures(name string, from, to time.Duration, t *tally, h *hdrhistogram.Histogram) Figures {
	f := Figures{
		Name:     name,
		Start:    from,
		End:      to,
		OK:       t.kinds[outcome.OK],
		Rejected: t.kinds[outcome.Rejected],
		Failed:   t.kinds[outcome.Failed],
		Unknown:  t.kinds[outcome.Unknown],
		ItemsOK:  t.items[outcome.OK],
		Late:     t.late,
		Clamped:  t.clamped,

		PastHorizon: t.pastHorizon,
		Latency:     LatencyOf(h),
	}
	for k := range t.kinds {
		f.Requests += t.kinds[k]
		f.Items += t.items[k]
	}
	if secs := (to - from).Seconds(); secs > 0 {
		f.RequestRate = float64(f.Requests) / secs
		f.OKRate = float64(f.OK) / secs
		f.ItemRate = float64(f.ItemsOK) / secs
	}
	if f.Requests > 0 {
		f.ErrorRate = float64(f.Failed+f.Unknown) / float64(f.Requests)
		f.UnknownRate = float64(f.Unknown) / float64(f.Requests)
	}
	return f
}
