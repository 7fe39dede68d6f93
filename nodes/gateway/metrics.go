package gateway

import (
	"paylab/outcome"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is one gateway's Prometheus registry; each gateway has its own, so many share a process.
type metrics struct {
	reg                 *prometheus.Registry
	requests            *prometheus.CounterVec
	duration            *prometheus.HistogramVec
	signatureRejections *prometheus.CounterVec
	breakerTransitions  *prometheus.CounterVec
	ledgerCalls         *prometheus.CounterVec
	ledgerCallsBy       [outcome.NumKinds]prometheus.Counter // by outcome.Kind
	batchSize           prometheus.Histogram
}

// ledgerCall counts one ledger call's outcome.
func (m *metrics) ledgerCall(o outcome.Kind) {
	if int(o) >= 0 && int(o) < len(m.ledgerCallsBy) {
		m.ledgerCallsBy[o].Inc()
		return
	}
	m.ledgerCalls.WithLabelValues(o.String()).Inc()
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paylab_gateway_requests_total", Help: "HTTP requests answered, by route and status code.",
	}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "paylab_gateway_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route"})
	m.signatureRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paylab_gateway_signature_rejections_total", Help: "Requests refused with 401, by reason (stale_timestamp, replayed_nonce, …).",
	}, []string{"reason"})
	m.breakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paylab_gateway_breaker_transitions_total", Help: "Circuit breaker transitions, by the state entered.",
	}, []string{"to"})
	m.ledgerCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paylab_gateway_ledger_calls_total", Help: "Calls forwarded to the ledger, by client outcome (ok, rejected, failed, unknown).",
	}, []string{"outcome"})
	for o := range m.ledgerCallsBy {
		m.ledgerCallsBy[o] = m.ledgerCalls.WithLabelValues(outcome.Kind(o).String())
	}
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "paylab_gateway_ledger_batch_transfers", Help: "Transfers per transfer call to the ledger (1: sent alone; more: coalesced, see BatchWindow).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		m.requests, m.duration, m.signatureRejections, m.breakerTransitions, m.ledgerCalls, m.batchSize,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paylab_gateway_breaker_state", Help: "Circuit breaker toward the ledger: 0 closed, 1 half-open, 2 open.",
		}, func() float64 { return float64(g.breaker.State(time.Now())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paylab_gateway_in_flight_requests", Help: "Payment requests being served now (bounded by MaxInFlight).",
		}, func() float64 { return float64(len(g.inFlight)) }),
	)
	if s, ok := g.nonces.(interface{ Len() int }); ok {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paylab_gateway_nonces", Help: "Nonces held by the in-memory nonce store (bounded by MaxNonces).",
		}, func() float64 { return float64(s.Len()) }))
	}
	return m
}
