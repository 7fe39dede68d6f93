package regions

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// HealthTarget is the URL probed for one region, e.g. the /healthz of its
// gateway reached through the region's entry point.
type HealthTarget struct {
	Region string
	URL    string
}

// HealthEvent is a change in a region's health, as the checker saw it.
type HealthEvent struct {
	Time    time.Time
	Region  string
	Healthy bool
	// Reason is the last probe's outcome ("200 OK", or the error).
	Reason string
}

// HealthConfig configures a HealthChecker.
type HealthConfig struct {
	Targets []HealthTarget
	// Interval between probe rounds (dns.health_interval).
	Interval time.Duration
	// Threshold is K: K consecutive failures take a healthy region out, K
	// consecutive successes bring an unhealthy one back.
	Threshold int
	// Timeout of one probe; 0 means Interval.
	Timeout time.Duration
	// OnChange is called, from the checker's goroutine and one event at a
	// time, whenever a region changes state. The lab typically calls
	// DNSServer.SetHealthy and records the event. It must not block for long.
	OnChange func(HealthEvent)
}

// HealthChecker probes every region's URL each Interval: a 2xx answer within
// Timeout is a success, anything else a failure. Every region starts healthy.
// Close stops it and waits for it.
type HealthChecker struct {
	cfg    HealthConfig
	client *http.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	state map[string]*regionHealth
}

type regionHealth struct {
	healthy bool
	streak  int // consecutive probes disagreeing with healthy
}

// StartHealthChecker validates cfg and starts probing; it stops when ctx ends
// or Close is called.
func StartHealthChecker(ctx context.Context, cfg HealthConfig) (*HealthChecker, error) {
	if cfg.Interval <= 0 || cfg.Threshold < 1 {
		return nil, fmt.Errorf("start health checker: interval %v and threshold %d must be positive", cfg.Interval, cfg.Threshold)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Interval
	}
	h := &HealthChecker{
		cfg: cfg,
		// A fresh connection per probe, as a real health checker makes; no
		// idle connections outlive the checker.
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{DisableKeepAlives: true}},
		done:   make(chan struct{}),
		state:  map[string]*regionHealth{},
	}
	for _, t := range cfg.Targets {
		u, err := url.Parse(t.URL)
		if err != nil {
			return nil, fmt.Errorf("start health checker: region %s url %q: %w", t.Region, t.URL, err)
		}
		if err := checkLoopbackHost(u.Hostname()); err != nil {
			return nil, fmt.Errorf("start health checker: region %s url %q: %w", t.Region, t.URL, err)
		}
		h.state[t.Region] = &regionHealth{healthy: true}
	}
	ctx, h.cancel = context.WithCancel(ctx)
	go h.run(ctx)
	return h, nil
}

// Healthy reports the checker's current verdict on a region.
func (h *HealthChecker) Healthy(region string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.state[region]
	return ok && s.healthy
}

// Close stops probing and waits for the checker's goroutines.
func (h *HealthChecker) Close() {
	h.cancel()
	<-h.done
}

func (h *HealthChecker) run(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.round(ctx)
		}
	}
}

// round probes every target at once and applies the results in target order.
func (h *HealthChecker) round(ctx context.Context) {
	reasons := make([]string, len(h.cfg.Targets))
	ok := make([]bool, len(h.cfg.Targets))
	var wg sync.WaitGroup
	for i, t := range h.cfg.Targets {
		wg.Go(func() { ok[i], reasons[i] = h.probe(ctx, t.URL) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // probes cut short by Close are no verdict
	}
	for i, t := range h.cfg.Targets {
		h.mu.Lock()
		s := h.state[t.Region]
		changed := false
		if ok[i] == s.healthy {
			s.streak = 0
		} else if s.streak++; s.streak >= h.cfg.Threshold {
			s.healthy, s.streak, changed = ok[i], 0, true
		}
		healthy := s.healthy
		h.mu.Unlock()
		if changed && h.cfg.OnChange != nil {
			h.cfg.OnChange(HealthEvent{Time: time.Now(), Region: t.Region, Healthy: healthy, Reason: reasons[i]})
		}
	}
}

func (h *HealthChecker) probe(ctx context.Context, u string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300, resp.Status
}
