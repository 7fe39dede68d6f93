package gateway

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// BreakerState is the circuit breaker's state. Its number is the value of paylab_gateway_breaker_state.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed lets every call through and counts consecutive failures.
	BreakerClosed BreakerState = 0
	// BreakerHalfOpen lets a bounded number of probe calls through after the cool-down.
	BreakerHalfOpen BreakerState = 1
	// BreakerOpen refuses every call at once until the cool-down ends.
	BreakerOpen BreakerState = 2
)

// String names the state: "closed", "half-open" or "open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return fmt.Sprintf("breaker_state(%d)", int(s))
}

// MarshalText writes the state's name, so JSON carries "open" rather than 2.
func (s BreakerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ErrBreakerOpen is returned by Breaker.Allow while the breaker refuses calls.
var ErrBreakerOpen = errors.New("circuit breaker open")

// BreakerConfig configures a Breaker. The policy is consecutive failures rather than a failure ratio over a
// window: the gateway counts only definite ledger unavailability as failure (transport errors, 503, timeouts),
// and one healthy answer means the ledger is reachable, so a run of failures with no success between them is
// exactly "the ledger is gone"; a ratio would keep sending a share of traffic into a dead ledger, and needs a
// window length that interacts with the lab's load rate.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive failures open the breaker.
	FailureThreshold int
	// CoolDown is how long the breaker stays open before letting probes through.
	CoolDown time.Duration
	// HalfOpenProbes is both how many calls may be in flight while half-open and how many consecutive
	// successes close the breaker again; one failure reopens it.
	HalfOpenProbes int
}

// DefaultBreakerConfig opens after 5 consecutive failures, cools down for 500 ms and closes after 2 good
// probes. The cool-down is short because an open breaker adds up to that much to a scenario's recovery time
// after the ledger is back; failures are counted only after the ledger client's own retries have given up.
func DefaultBreakerConfig() BreakerConfig {
	return BreakerConfig{FailureThreshold: 5, CoolDown: 500 * time.Millisecond, HalfOpenProbes: 2}
}

// Validate checks the breaker's bounds; the error names the field.
func (c BreakerConfig) Validate() error {
	var errs []error
	if c.FailureThreshold < 1 || c.FailureThreshold > 10_000 {
		errs = append(errs, fmt.Errorf("FailureThreshold %d must be in 1..10000", c.FailureThreshold))
	}
	if c.CoolDown < time.Millisecond || c.CoolDown > 10*time.Minute {
		errs = append(errs, fmt.Errorf("CoolDown %v must be in 1ms..10m", c.CoolDown))
	}
	if c.HalfOpenProbes < 1 || c.HalfOpenProbes > 1000 {
		errs = append(errs, fmt.Errorf("HalfOpenProbes %d must be in 1..1000", c.HalfOpenProbes))
	}
	return errors.Join(errs...)
}

// BreakerTransition is one change of state, as handed to the OnBreakerChange callback.
type BreakerTransition struct {
	From, To BreakerState
	At       time.Time
	// Reason says what caused it ("5 consecutive failures", "cool-down of 1s over", …).
	Reason string
}

// Result is how a call through the breaker ended.
type Result int

// Results. Ignored is for calls that say nothing about the ledger (the caller went away): they free their
// probe slot and change no count.
const (
	Success Result = iota
	Failure
	Ignored
)

// Breaker is a consecutive-failure circuit breaker with a bounded half-open state. Time is passed in, so the
// state machine is deterministic and tests need no sleeps. It is safe for concurrent use.
type Breaker struct {
	cfg      BreakerConfig
	onChange func(BreakerTransition)

	mu        sync.Mutex
	state     BreakerState
	failures  int // consecutive, while closed
	successes int // consecutive, while half-open
	probes    int // in flight, while half-open
	openedAt  time.Time
	gen       uint64 // bumped on every transition; tickets from an older generation change no count
}

// NewBreaker returns a closed breaker. onChange may be nil; it runs with the breaker locked, in order.
func NewBreaker(cfg BreakerConfig, onChange func(BreakerTransition)) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("breaker config: %w", err)
	}
	return &Breaker{cfg: cfg, onChange: onChange}, nil
}

// Ticket is permission for one call; report how it ended with Done, exactly once.
type Ticket struct {
	b     *Breaker
	gen   uint64
	probe bool
}

// Allow asks to make one call at time now. It fails with ErrBreakerOpen while open, and while half-open with
// every probe slot taken.
func (b *Breaker) Allow(now time.Time) (Ticket, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	switch b.state {
	case BreakerOpen:
		return Ticket{}, fmt.Errorf("%w until %s", ErrBreakerOpen, b.openedAt.Add(b.cfg.CoolDown).Format(time.RFC3339Nano))
	case BreakerHalfOpen:
		if b.probes >= b.cfg.HalfOpenProbes {
			return Ticket{}, fmt.Errorf("%w: %d half-open probes already in flight", ErrBreakerOpen, b.probes)
		}
		b.probes++
		return Ticket{b: b, gen: b.gen, probe: true}, nil
	}
	return Ticket{b: b, gen: b.gen}, nil
}

// Done reports how the call ended, at time now.
func (t Ticket) Done(now time.Time, r Result) {
	b := t.b
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		return // the state changed while the call ran; its slot and counts belong to the old state
	}
	if t.probe {
		b.probes--
	}
	switch {
	case r == Ignored:
	case b.state == BreakerClosed && r == Success:
		b.failures = 0
	case b.state == BreakerClosed && r == Failure:
		b.failures++
		if b.failures >= b.cfg.FailureThreshold {
			b.transition(now, BreakerOpen, fmt.Sprintf("%d consecutive failures", b.failures))
		}
	case b.state == BreakerHalfOpen && r == Success:
		b.successes++
		if b.successes >= b.cfg.HalfOpenProbes {
			b.transition(now, BreakerClosed, fmt.Sprintf("%d successful probes", b.successes))
		}
	case b.state == BreakerHalfOpen && r == Failure:
		b.transition(now, BreakerOpen, "a half-open probe failed")
	}
}

// State returns the state at time now (an open breaker whose cool-down is over reads half-open).
func (b *Breaker) State(now time.Time) BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return b.state
}

// advance moves open to half-open once the cool-down is over. Called with b.mu held.
func (b *Breaker) advance(now time.Time) {
	if b.state == BreakerOpen && !now.Before(b.openedAt.Add(b.cfg.CoolDown)) {
		b.transition(now, BreakerHalfOpen, fmt.Sprintf("cool-down of %v over", b.cfg.CoolDown))
	}
}

// transition changes state and resets the counts. Called with b.mu held.
func (b *Breaker) transition(now time.Time, to BreakerState, reason string) {
	from := b.state
	b.state, b.failures, b.successes, b.probes = to, 0, 0, 0
	b.gen++
	if to == BreakerOpen {
		b.openedAt = now
	}
	if b.onChange != nil {
		b.onChange(BreakerTransition{From: from, To: to, At: now, Reason: reason})
	}
}
