package bench

import (
	"sync"
	"time"
)

// lagSampler measures this process's scheduler lag: how late a goroutine that sleeps lagTick wakes up. Raft's
// timers and RPCs run on the same scheduler, so a lag near the heartbeat timeout means the failover measures a
// starved process, not raft.
type lagSampler struct {
	mu       sync.Mutex
	windowMx time.Duration // since the last window() call
	overall  time.Duration
	samples  uint64
	over     uint64 // samples later than lagStarved
	done     chan struct{}
	stopped  chan struct{}
}

const (
	lagTick    = 5 * time.Millisecond
	lagStarved = 20 * time.Millisecond
)

func startLagSampler() *lagSampler {
	s := &lagSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		t := time.NewTimer(lagTick)
		defer t.Stop()
		for {
			start := time.Now()
			t.Reset(lagTick)
			select {
			case <-s.done:
				return
			case <-t.C:
			}
			lag := max(0, time.Since(start)-lagTick)
			s.mu.Lock()
			s.windowMx = max(s.windowMx, lag)
			s.overall = max(s.overall, lag)
			s.samples++
			if lag > lagStarved {
				s.over++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// window returns the largest lag since the previous call.
func (s *lagSampler) window() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.windowMx
	s.windowMx = 0
	return m
}

func (s *lagSampler) stop() (maxLag time.Duration, starvedShare float64) {
	close(s.done)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples > 0 {
		starvedShare = float64(s.over) / float64(s.samples)
	}
	return s.overall, starvedShare
}

// gapTracker records the longest interval between consecutive commits.
type gapTracker struct {
	mu      sync.Mutex
	started bool
	last    time.Duration
	longest time.Duration
}

func (g *gapTracker) observe(at time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started && at > g.last {
		g.longest = max(g.longest, at-g.last)
	}
	if !g.started || at > g.last {
		g.last, g.started = at, true
	}
}

// close counts the time from the last commit to at (a run that ends inside a stall).
func (g *gapTracker) close(at time.Duration) time.Duration {
	g.observe(at)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.longest
}
