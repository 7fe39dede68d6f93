package load

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"paylab/outcome"
	"paylab/results"
)

// The lab's own Prometheus metrics count what the generator did and are served on loopback.
func TestMetricsAreServedOnLoopback(t *testing.T) {
	m := results.NewMetrics()
	srv, err := m.Serve(0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Fatalf("metrics served on %s, want loopback", srv.Addr())
	}
	op := func(ctx context.Context, seq uint64, worker int) Outcome {
		if seq%2 == 1 {
			return Outcome{Kind: outcome.Rejected, Reason: "no"}
		}
		return Outcome{Kind: outcome.OK, Items: 10}
	}
	// The run is in virtual time (synctest), so exactly 20 requests are sent whatever the
	// machine's load; the metrics server stays outside the bubble.
	var rep *Report
	synctest.Test(t, func(t *testing.T) {
		var err error
		rep, err = Run(context.Background(), Config{Pacer: ConstantPacer{Rate: 1000}, Duration: 20 * time.Millisecond, Metrics: m,
			Recorder: mustRecorder(t, m)}, op)
		if err != nil {
			t.Fatal(err)
		}
	})
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`paylab_load_requests_total{outcome="ok"} 10`,
		`paylab_load_requests_total{outcome="rejected"} 10`,
		`paylab_load_items_total{outcome="ok"} 100`,
		`paylab_load_in_flight 0`,
		`paylab_load_latency_seconds_count 20`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q (report: %d requests)", want, rep.Requests)
		}
	}
}

func mustRecorder(t *testing.T, m *results.Metrics) *results.Recorder {
	t.Helper()
	r, err := results.NewRecorder(results.RecorderConfig{Start: time.Now(), Horizon: time.Minute, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
