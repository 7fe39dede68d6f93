package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"paylab/loopback"
	"paylab/nodes/ledger/client"
)

// Gateway is one running gateway node: an HTTP server on loopback forwarding to a ledger cluster. Its methods
// are safe for concurrent use.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	ledger   *client.Client
	signer   *Signer // nil when signatures are not required
	nonces   NonceStore
	idem     IdempotencyCache
	balances BalanceCache
	locks    AccountLocker
	limiter  RateLimiter
	breaker  *Breaker
	batcher  *transferBatcher
	met      *metrics
	inFlight chan struct{} // a slot per payment request being served

	seenMu sync.Mutex          // guards seen
	seen   map[string]struct{} // payment ids forwarded, kept only under Broken.NewLedgerIDOnRetry

	// ctx lives as long as the gateway; health probes run under it so Close stops them.
	ctx    context.Context
	cancel context.CancelFunc

	probeMu  sync.Mutex // held during a probe, so concurrent /healthz calls share one
	healthMu sync.Mutex // guards health; never held during a probe, so Status does not wait for one
	health   Health

	ln        net.Listener
	srv       *http.Server
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, connects the ledger client and serves the HTTP API on cfg.Addr until Close.
func Start(cfg Config) (*Gateway, error) {
	for _, m := range []*Mode{&cfg.Cache, &cfg.Lock, &cfg.IdempotencyMode} {
		if *m == "" {
			*m = ModeOff
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: cfg, log: cfg.Logger,
		nonces: cfg.Nonces, idem: cfg.Idempotency, balances: cfg.Balances, locks: cfg.Locks, limiter: cfg.Limiter,
		inFlight: make(chan struct{}, cfg.MaxInFlight),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.log = g.log.With("gateway", cfg.ID, "region", cfg.Region)
	if err := g.fillSeams(); err != nil {
		return nil, fmt.Errorf("start gateway %s: %w", cfg.ID, err)
	}
	// The breaker is built before the metrics, which read its state; its callback counts transitions.
	var err error
	g.breaker, err = NewBreaker(cfg.Breaker, func(t BreakerTransition) {
		g.met.breakerTransitions.WithLabelValues(t.To.String()).Inc()
		g.log.Info("breaker transition", "from", t.From, "to", t.To, "reason", t.Reason)
		if cfg.OnBreakerChange != nil {
			cfg.OnBreakerChange(t)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("start gateway %s: %w", cfg.ID, err)
	}
	g.met = newMetrics(g)
	g.batcher = newTransferBatcher(g)
	if g.ledger, err = client.New(cfg.Ledger); err != nil {
		return nil, fmt.Errorf("start gateway %s: ledger client: %w", cfg.ID, err)
	}
	if err := g.serve(); err != nil {
		g.ledger.Close()
		return nil, fmt.Errorf("start gateway %s: %w", cfg.ID, err)
	}
	return g, nil
}

// fillSeams makes the signer when signatures are required and gives every seam the config left nil its
// in-process stand-in: a bounded nonce store, no idempotency cache, no balance cache, no locks, no limit.
func (g *Gateway) fillSeams() error {
	var err error
	if g.cfg.RequireSignature {
		if g.signer, err = NewSigner(g.cfg.SigningKey); err != nil {
			return err
		}
	}
	if g.nonces == nil {
		if g.nonces, err = NewMemoryNonceStore(g.cfg.MaxNonces); err != nil {
			return err
		}
	}
	if g.idem == nil {
		g.idem = noIdempotencyCache{}
	}
	if g.balances == nil {
		g.balances = noBalanceCache{}
	}
	if g.locks == nil {
		g.locks = noLocks{}
	}
	if g.limiter == nil {
		g.limiter = noLimit{}
	}
	return nil
}

// serve listens on cfg.Addr and serves the API in a goroutine counted in g.wg, every request under g.ctx.
func (g *Gateway) serve() error {
	ln, err := loopback.Listen(g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", g.cfg.Addr, err)
	}
	g.ln = ln
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.srv = &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		// Every request's context descends from the gateway's, so Close can cut short what Shutdown's grace
		// period did not finish.
		BaseContext: func(net.Listener) context.Context { return g.ctx },
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.srv.Serve(g.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("HTTP server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address the API listens on ("127.0.1.2:41234").
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// URL is the API's base URL ("http://127.0.1.2:41234").
func (g *Gateway) URL() string { return "http://" + g.Addr() }

// forwardedBefore records id as forwarded and reports whether it had been before (Broken.NewLedgerIDOnRetry
// only; at most MaxBrokenRetryIDs ids are remembered).
func (g *Gateway) forwardedBefore(id string) bool {
	g.seenMu.Lock()
	defer g.seenMu.Unlock()
	if _, ok := g.seen[id]; ok {
		return true
	}
	if g.seen == nil {
		g.seen = map[string]struct{}{}
	}
	if len(g.seen) < MaxBrokenRetryIDs {
		g.seen[id] = struct{}{}
	}
	return false
}

// ID is the gateway's id from its config.
func (g *Gateway) ID() string { return g.cfg.ID }

// Region is the region the gateway serves.
func (g *Gateway) Region() string { return g.cfg.Region }

// BreakerState is the circuit breaker's state now.
func (g *Gateway) BreakerState() BreakerState { return g.breaker.State(time.Now()) }

// Close stops serving: requests in flight get up to 2 s to finish, then the rest are cancelled (a transfer
// cut short this way may have applied), connections are dropped, and Close returns once every payment
// handler and every goroutine the gateway started has returned. It is safe to call more than once.
func (g *Gateway) Close() error { return g.stop(2 * time.Second) }

// Crash stops the gateway as a killed process stops: the listener and every connection close at once and
// requests in flight are cancelled (a transfer already forwarded may still apply in the ledger). It returns
// once every handler and goroutine has returned; Close and Crash afterwards do nothing.
func (g *Gateway) Crash() error { return g.stop(0) }

// stop gives requests in flight up to grace to finish (none when 0), then cuts the rest short.
func (g *Gateway) stop(grace time.Duration) error {
	g.closeOnce.Do(func() {
		var shutdownErr, closeErr error
		if grace > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			shutdownErr = g.srv.Shutdown(ctx)
			cancel()
		} else {
			closeErr = g.srv.Close() // connections first, so no handler cancelled below gets to answer
		}
		g.cancel()
		if err := g.srv.Close(); closeErr == nil {
			closeErr = err
		}
		g.wg.Wait()
		// http.Server.Close does not wait for handlers; taking every in-flight slot does (and answers any
		// late request "overloaded").
		for range cap(g.inFlight) {
			g.inFlight <- struct{}{}
		}
		g.batcher.close()
		g.ledger.Close()
		if shutdownErr != nil && !errors.Is(shutdownErr, context.DeadlineExceeded) {
			g.closeErr = fmt.Errorf("close gateway %s: shut down HTTP server: %w", g.cfg.ID, shutdownErr)
		} else if closeErr != nil {
			g.closeErr = fmt.Errorf("close gateway %s: close HTTP server: %w", g.cfg.ID, closeErr)
		}
	})
	return g.closeErr
}

// Status is the gateway's view of itself, as served by GET /v1/status.
type Status struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	// Breaker is the circuit breaker's state: "closed", "half-open" or "open".
	Breaker BreakerState `json:"breaker"`
	// LedgerLeader is the ledger node the client sends writes to now.
	LedgerLeader string `json:"ledger_leader"`
	// Healthy and HealthReason are the last /healthz probe's answer (cached; see Config.HealthCacheTTL).
	Healthy          bool      `json:"healthy"`
	HealthReason     string    `json:"health_reason,omitempty"`
	HealthCheckedAt  time.Time `json:"health_checked_at"`
	RequireSignature bool      `json:"require_signature"`
	Cache            Mode      `json:"cache"`
	Lock             Mode      `json:"lock"`
	InFlight         int       `json:"in_flight"`
}

// Status reports the gateway's state without probing the ledger.
func (g *Gateway) Status() Status {
	g.healthMu.Lock()
	h := g.health
	g.healthMu.Unlock()
	return Status{
		ID: g.cfg.ID, Region: g.cfg.Region,
		Breaker:      g.BreakerState(),
		LedgerLeader: g.ledger.Leader(),
		Healthy:      h.OK, HealthReason: h.Reason, HealthCheckedAt: h.CheckedAt,
		RequireSignature: g.cfg.RequireSignature,
		Cache:            g.cfg.Cache, Lock: g.cfg.Lock,
		InFlight: len(g.inFlight),
	}
}

// Health is whether the gateway can reach a ledger leader.
type Health struct {
	OK bool `json:"ok"`
	// Leader is the ledger node that answered as leader.
	Leader string `json:"leader,omitempty"`
	// Reason says why not, naming each node tried and what it said.
	Reason    string    `json:"reason,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// Health probes the ledger for a leader through the client, or returns the previous answer if it is younger
// than HealthCacheTTL. Concurrent callers share one probe; a probe takes at most HealthTimeout.
func (g *Gateway) Health() Health {
	g.probeMu.Lock()
	defer g.probeMu.Unlock()
	g.healthMu.Lock()
	h := g.health
	g.healthMu.Unlock()
	if !h.CheckedAt.IsZero() && time.Since(h.CheckedAt) < g.cfg.HealthCacheTTL {
		return h
	}
	h = g.probe()
	g.healthMu.Lock()
	g.health = h
	g.healthMu.Unlock()
	return h
}

// probe asks the node the client believes leads, then whoever it names as leader, then every other node,
// until one says it is the leader or the time is up.
func (g *Gateway) probe() Health {
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.HealthTimeout)
	defer cancel()
	ids := make([]string, 0, len(g.cfg.Ledger.Nodes))
	for id := range g.cfg.Ledger.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	tried := make(map[string]bool, len(ids))
	var notes []string
	next := g.ledger.Leader()
	for len(tried) < len(ids) && ctx.Err() == nil {
		if _, known := g.cfg.Ledger.Nodes[next]; !known || tried[next] {
			for _, id := range ids {
				if !tried[id] {
					next = id
					break
				}
			}
		}
		node := next
		tried[node] = true
		next = ""
		st, err := g.ledger.Status(ctx, node, false)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", node, err))
			continue
		}
		if st.State == "Leader" {
			return Health{OK: true, Leader: node, CheckedAt: time.Now()}
		}
		notes = append(notes, fmt.Sprintf("%s is %s and names leader %q", node, st.State, st.Leader))
		next = st.Leader
	}
	if ctx.Err() != nil {
		notes = append(notes, fmt.Sprintf("probe stopped after %v", g.cfg.HealthTimeout))
	}
	return Health{Reason: "no ledger leader reachable: " + strings.Join(notes, "; "), CheckedAt: time.Now()}
}
