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
	m.registerMechanisms(g)
	if s, ok := g.nonces.(interface{ Len() int }); ok {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "paylab_gateway_nonces", Help: "Nonces held by the in-memory nonce store (bounded by MaxNonces).",
		}, func() float64 { return float64(s.Len()) }))
	}
	return m
}

// registerMechanisms exports the Redis-backed mechanisms' own counts (issue 12): cache hits, misses, stale
// serves, rebuilds and cached-absence hits; lock acquisitions, waits, timeouts and losses; limiter decisions.
func (m *metrics) registerMechanisms(g *Gateway) {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	if c, ok := g.balances.(*RedisBalanceCache); ok {
		m.reg.MustRegister(
			counter("paylab_gateway_cache_hits_total", "Balance reads answered from the cache (fresh, or stale while another rebuilds).", func() uint64 { return c.Stats().Hits }),
			counter("paylab_gateway_cache_misses_total", "Balance reads that found no cached value.", func() uint64 { return c.Stats().Misses }),
			counter("paylab_gateway_cache_stale_total", "Balance reads that found a value past its TTL (safe mode: served stale or refreshed).", func() uint64 { return c.Stats().Stale }),
			counter("paylab_gateway_cache_rebuilds_total", "Balance reads sent to the ledger to fill the cache.", func() uint64 { return c.Stats().Rebuilds }),
			counter("paylab_gateway_cache_negative_hits_total", "Reads of an absent account answered from the cached absence (safe mode).", func() uint64 { return c.Stats().NegativeHits }),
		)
	}
	if l, ok := g.locks.(*RedisLocker); ok {
		m.reg.MustRegister(
			counter("paylab_gateway_lock_acquired_total", "Account locks taken.", func() uint64 { return l.Stats().Acquired }),
			counter("paylab_gateway_lock_waits_total", "Attempts that found the account's lock held.", func() uint64 { return l.Stats().Waits }),
			counter("paylab_gateway_lock_timeouts_total", "Lock calls that gave up when their deadline ended.", func() uint64 { return l.Stats().Timeouts }),
			counter("paylab_gateway_lock_lost_total", "Safe releases that found the lock expired while held.", func() uint64 { return l.Stats().Lost }),
		)
	}
	if l, ok := g.limiter.(*RedisLimiter); ok {
		m.reg.MustRegister(
			counter("paylab_gateway_limiter_allowed_total", "Requests the rate limiter let through.", func() uint64 { return l.Stats().Allowed }),
			counter("paylab_gateway_limiter_refused_total", "Requests the rate limiter refused (429).", func() uint64 { return l.Stats().Refused }),
			counter("paylab_gateway_limiter_failed_open_total", "Redis failures the limiter answered by letting the request through.", func() uint64 { return l.Stats().FailedOpen }),
			counter("paylab_gateway_limiter_failed_closed_total", "Redis failures the limiter answered by refusing the request (503).", func() uint64 { return l.Stats().FailedClosed }),
		)
	}
}
