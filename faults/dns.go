package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"paylab/regions"
)

// dnsFault flips one setting of the lab DNS server (or of the clients'
// resolvers) on inject and back on heal.
type dnsFault struct {
	name, target string
	set          func(env Env) error // inject
	reset        func(env Env) error // heal

	mu     sync.Mutex
	active bool
}

func (f *dnsFault) Name() string   { return f.name }
func (f *dnsFault) Target() string { return f.target }

func (f *dnsFault) Inject(_ context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active {
		return fmt.Errorf("inject %s on %q: already injected", f.name, f.target)
	}
	if err := f.set(env); err != nil {
		return fmt.Errorf("inject %s on %q: %w", f.name, f.target, err)
	}
	f.active = true
	return nil
}

func (f *dnsFault) Heal(_ context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.active {
		return nil
	}
	if err := f.reset(env); err != nil {
		return fmt.Errorf("heal %s on %q: %w", f.name, f.target, err)
	}
	f.active = false
	return nil
}

// withDNS runs do on the lab DNS server, or fails with ErrNoDNS.
func withDNS(env Env, do func(s *regions.DNSServer) error) error {
	s := env.DNS()
	if s == nil {
		return ErrNoDNS
	}
	return do(s)
}

func newDNSRemoveRegion(topo regions.Topology, target string) (Fault, error) {
	region := strings.TrimSpace(target)
	if _, err := parseRegions(topo, region, false); err != nil || strings.Contains(region, ",") {
		if err == nil {
			err = fmt.Errorf("one region, not a list")
		}
		return nil, targetError(target, err)
	}
	return &dnsFault{name: "dns-remove-region", target: target,
		set: func(env Env) error {
			return withDNS(env, func(s *regions.DNSServer) error { return s.RemoveRegion(region) })
		},
		reset: func(env Env) error {
			return withDNS(env, func(s *regions.DNSServer) error { return s.RestoreRegion(region) })
		},
	}, nil
}

func newDNSServfail(target string) (Fault, error) {
	if err := requireNoTarget(target); err != nil {
		return nil, targetError(target, err)
	}
	return &dnsFault{name: "dns-servfail",
		set: func(env Env) error {
			return withDNS(env, func(s *regions.DNSServer) error { s.SetServfail(true); return nil })
		},
		reset: func(env Env) error {
			return withDNS(env, func(s *regions.DNSServer) error { s.SetServfail(false); return nil })
		},
	}, nil
}

func newDNSSlow(target string, v values) (Fault, error) {
	if err := requireNoTarget(target); err != nil {
		return nil, targetError(target, err)
	}
	delay := v.dur("delay")
	return &dnsFault{name: "dns-slow",
		set: func(env Env) error {
			return withDNS(env, func(s *regions.DNSServer) error { s.SetDelay(delay); return nil })
		},
		reset: func(env Env) error {
			return withDNS(env, func(s *regions.DNSServer) error { s.SetDelay(0); return nil })
		},
	}, nil
}

// staleCache makes a fraction of some regions' clients ignore DNS TTLs,
// and puts back each region's previous fraction on heal.
type staleCache struct {
	target   string
	regions  []string
	fraction float64

	mu       sync.Mutex
	previous map[string]float64 // region → fraction before inject; nil when not injected
}

func (f *staleCache) Name() string   { return "dns-stale-cache" }
func (f *staleCache) Target() string { return f.target }

func (f *staleCache) Inject(_ context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.previous != nil {
		return fmt.Errorf("inject dns-stale-cache on %q: already injected", f.target)
	}
	f.previous = map[string]float64{}
	for _, r := range f.regions {
		prev, err := env.SetClientsIgnoreTTL(r, f.fraction)
		if err != nil {
			undo := f.resetLocked(env)
			return fmt.Errorf("inject dns-stale-cache on %q: region %s: %w", f.target, r, errors.Join(err, undo))
		}
		f.previous[r] = prev
	}
	return nil
}

func (f *staleCache) Heal(_ context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.resetLocked(env); err != nil {
		return fmt.Errorf("heal dns-stale-cache on %q: %w", f.target, err)
	}
	return nil
}

func (f *staleCache) resetLocked(env Env) error {
	if f.previous == nil {
		return nil
	}
	var errs []error
	for r, prev := range f.previous {
		if _, err := env.SetClientsIgnoreTTL(r, prev); err != nil {
			errs = append(errs, fmt.Errorf("region %s: %w", r, err))
			continue
		}
		delete(f.previous, r)
	}
	if len(f.previous) == 0 {
		f.previous = nil
	}
	return errors.Join(errs...)
}

func newDNSStaleCache(topo regions.Topology, target string, v values) (Fault, error) {
	rs, err := parseRegions(topo, target, true)
	if err != nil {
		return nil, targetError(target, err)
	}
	return &staleCache{target: target, regions: rs, fraction: v.frac("fraction")}, nil
}

// dnsMaxDelay bounds dns-slow: beyond it every client has timed out anyway.
const dnsMaxDelay = 30 * time.Second
