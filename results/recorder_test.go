package results

import (
	"bytes"
	"math"
	"math/rand/v2"
	"paylab/outcome"
	"slices"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func newTestRecorder(t *testing.T, horizon time.Duration) *Recorder {
	t.Helper()
	r, err := NewRecorder(RecorderConfig{Start: time.Unix(1700000000, 0), Horizon: horizon, Stripes: 4})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The merged HdrHistogram must agree with a sorted-array reference (nearest rank) within the
// histogram's precision, whatever the stripe each sample went to.
func TestPercentilesMatchSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dist := range []struct {
		name string
		draw func() time.Duration
	}{
		{"uniform", func() time.Duration { return time.Duration(rng.Int64N(int64(50 * time.Millisecond))) }},
		{"lognormal", func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*1.5+math.Log(2e6))) + time.Microsecond
		}},
	} {
		t.Run(dist.name, func(t *testing.T) {
			r := newTestRecorder(t, 10*time.Second)
			const n = 100_000
			ref := make([]int64, 0, n)
			for i := range n {
				lat := dist.draw()
				if lat > 4*time.Minute {
					lat = 4 * time.Minute
				}
				intended := time.Duration(i) * 50 * time.Microsecond
				r.Record(i, Sample{Intended: intended, Sent: intended, Done: intended + lat, Kind: outcome.OK})
				ref = append(ref, lat.Microseconds())
			}
			slices.Sort(ref)
			h := r.Merged().Latency
			if h.TotalCount() != n {
				t.Fatalf("count = %d, want %d", h.TotalCount(), n)
			}
			for _, q := range []float64{50, 90, 99, 99.9, 100} {
				// Nearest rank, rounded: the rank-th smallest sample, 1-based.
				rank := max(int(q/100*n+0.5), 1)
				want := ref[rank-1]
				got := h.ValueAtQuantile(q)
				tol := float64(want)*0.001 + 1 // 3 significant figures, whole microseconds
				if math.Abs(float64(got-want)) > tol {
					t.Errorf("p%v = %dµs, sorted reference %dµs (tolerance %.0f)", q, got, want, tol)
				}
			}
			lat := r.Total().Latency
			if lat.P99 != time.Duration(h.ValueAtQuantile(99))*time.Microsecond || lat.Max != time.Duration(h.Max())*time.Microsecond {
				t.Errorf("Total().Latency = %+v disagrees with the merged histogram", lat)
			}
		})
	}
}

func TestWindowsAndSpansFollowIntendedTime(t *testing.T) {
	r := newTestRecorder(t, 5*time.Second)
	// 100 ops per second for 4 s; second 2 is slow and has errors; a stalled op intended at 2.5 s
	// finishes at 4 s and must count in window 2, not window 4.
	for i := range 400 {
		at := time.Duration(i) * 10 * time.Millisecond
		s := Sample{Intended: at, Sent: at, Done: at + time.Millisecond, Kind: outcome.OK, Items: 4}
		if at >= 2*time.Second && at < 3*time.Second {
			s.Done = at + 100*time.Millisecond
			if i%10 == 0 {
				s.Kind = outcome.Unknown
			}
		}
		r.Record(i%7, s)
	}
	r.Record(0, Sample{Intended: 2500 * time.Millisecond, Sent: 3 * time.Second, Done: 4 * time.Second, Kind: outcome.Failed})

	ws := r.Windows()
	if len(ws) != 4 {
		t.Fatalf("got %d windows, want 4", len(ws))
	}
	if ws[0].Requests != 100 || ws[0].ItemsOK != 400 || ws[0].Latency.P99 > 2*time.Millisecond {
		t.Errorf("window 0 = %+v, want 100 fast requests carrying 400 items", ws[0])
	}
	w2 := ws[2]
	if w2.Requests != 101 || w2.Unknown != 10 || w2.Failed != 1 || w2.Late != 1 {
		t.Errorf("window 2 = %+v, want 101 requests, 10 unknown, 1 failed, 1 late", w2)
	}
	if w2.Latency.Max < 1400*time.Millisecond || w2.Latency.P50 < 99*time.Millisecond {
		t.Errorf("window 2 latency = %+v, want the 1.5 s stall and ~100 ms median", w2.Latency)
	}
	span := r.Span("fault", 2*time.Second, 3*time.Second)
	if span.Requests != w2.Requests || span.ErrorRate < 0.1 || span.RequestRate != 101 {
		t.Errorf("span = %+v, want window 2's figures at 101 req/s", span)
	}
	total := r.Total()
	if total.Requests != 401 || total.End != 4*time.Second {
		t.Errorf("total = %+v, want 401 requests ending at 4s", total)
	}
}

func TestSamplesPastHorizonAreKeptAndCounted(t *testing.T) {
	r := newTestRecorder(t, time.Second)
	r.Record(0, Sample{Intended: time.Hour, Sent: time.Hour, Done: time.Hour + time.Millisecond, Kind: outcome.OK})
	ws := r.Windows()
	if len(ws) == 0 || ws[len(ws)-1].PastHorizon != 1 || r.Total().Requests != 1 {
		t.Fatalf("a sample past the horizon was lost: windows %+v", ws)
	}
}

func TestRecorderConfigRejectsBadFields(t *testing.T) {
	for _, c := range []RecorderConfig{
		{Horizon: time.Second},
		{Start: time.Now()},
		{Start: time.Now(), Horizon: 1000 * time.Hour, Window: time.Millisecond},
		{Start: time.Now(), Horizon: time.Second, Stripes: 1000},
	} {
		if _, err := NewRecorder(c); err == nil {
			t.Errorf("NewRecorder(%+v) accepted a bad config", c)
		}
	}
}

func TestHistogramLogRoundTrips(t *testing.T) {
	start := time.Now()
	rec, err := NewRecorder(RecorderConfig{Start: start, Horizon: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		at := time.Duration(i) * 10 * time.Millisecond // three windows of 100 samples
		rec.Record(0, Sample{Intended: at, Sent: at, Done: at + time.Duration(i+1)*time.Millisecond, Kind: outcome.OK})
	}
	var buf bytes.Buffer
	if err := rec.WriteHistogramLog(&buf); err != nil {
		t.Fatal(err)
	}
	lr := hdrhistogram.NewHistogramLogReader(&buf)
	var total int64
	n := 0
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		n++
		total += h.TotalCount()
	}
	if n != 3 || total != 300 {
		t.Fatalf("read back %d intervals with %d samples, want 3 and 300", n, total)
	}
}
