package results

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"paylab/outcome"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the lab's own Prometheus metrics: what the load generator sent and saw. Each
// Metrics has its own registry (no global state), served by Serve on a loopback port.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	items    *prometheus.CounterVec
	late     prometheus.Counter
	missed   prometheus.Counter
	latency  prometheus.Histogram
	inFlight prometheus.Gauge
	workers  prometheus.Gauge
	kinds    [outcome.NumKinds]prometheus.Counter
	kindItem [outcome.NumKinds]prometheus.Counter
}

// NewMetrics creates the metrics in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylab_load_requests_total",
			Help: "Requests finished by the load generator, by outcome (ok, rejected, failed, unknown).",
		}, []string{"outcome"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paylab_load_items_total",
			Help: "Business operations (e.g. transfers in a batch) carried by finished requests, by outcome.",
		}, []string{"outcome"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paylab_load_late_sends_total",
			Help: "Requests sent later than the lateness tolerance after their intended send time.",
		}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paylab_load_missed_sends_total",
			Help: "Requests that were due but never sent because the generator fell behind.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paylab_load_latency_seconds",
			Help:    "Latency from each request's intended send time to its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20), // 100µs … ~52s
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paylab_load_in_flight",
			Help: "Requests sent and not yet finished.",
		}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paylab_load_workers",
			Help: "Workers the generator has started (grows with rate × latency up to its bound).",
		}),
	}
	m.reg.MustRegister(m.requests, m.items, m.late, m.missed, m.latency, m.inFlight, m.workers)
	for k := outcome.Kind(0); k < outcome.NumKinds; k++ {
		m.kinds[k] = m.requests.WithLabelValues(k.String())
		m.kindItem[k] = m.items.WithLabelValues(k.String())
	}
	return m
}

// Registry returns the registry holding the metrics, so a caller can add its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(s Sample, items uint64, late bool) {
	m.kinds[s.Kind].Inc()
	m.kindItem[s.Kind].Add(float64(items))
	if late {
		m.late.Inc()
	}
	m.latency.Observe((s.Done - s.Intended).Seconds())
}

// AddInFlight moves the in-flight gauge by delta.
func (m *Metrics) AddInFlight(delta int) { m.inFlight.Add(float64(delta)) }

// SetWorkers sets the worker gauge.
func (m *Metrics) SetWorkers(n int) { m.workers.Set(float64(n)) }

// AddMissed counts sends that were due but never made.
func (m *Metrics) AddMissed(n uint64) { m.missed.Add(float64(n)) }

// MetricsServer serves a Metrics on a loopback address until Close.
type MetricsServer struct {
	addr string
	srv  *http.Server
	done chan error
}

// Serve starts serving /metrics on 127.0.0.1:port (port 0 picks a free one). Only loopback
// addresses are served: the lab never listens beyond the machine.
func (m *Metrics) Serve(port int) (*MetricsServer, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("serve metrics: port %d is outside 0..65535", port)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)))
	if err != nil {
		return nil, fmt.Errorf("serve metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &MetricsServer{
		addr: ln.Addr().String(),
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the host:port being served.
func (s *MetricsServer) Addr() string { return s.addr }

// Close stops the server (waiting up to the context's deadline for open scrapes) and waits for
// its goroutine.
func (s *MetricsServer) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("stop metrics server on %s: %w", s.addr, err)
	}
	return nil
}
