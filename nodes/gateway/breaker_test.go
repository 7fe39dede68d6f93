package gateway

import (
	"errors"
	"testing"
	"time"
)

func TestBreakerOpensAfterConsecutiveFailuresOnly(t *testing.T) {
	var seen []BreakerTransition
	b, err := NewBreaker(BreakerConfig{FailureThreshold: 3, CoolDown: time.Second, HalfOpenProbes: 2}, func(tr BreakerTransition) { seen = append(seen, tr) })
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	call := func(at time.Time, r Result) {
		t.Helper()
		tk, err := b.Allow(at)
		if err != nil {
			t.Fatalf("Allow at %v: %v", at.Sub(t0), err)
		}
		tk.Done(at, r)
	}
	// A success between failures resets the count; ignored calls do not count.
	call(t0, Failure)
	call(t0, Failure)
	call(t0, Success)
	call(t0, Failure)
	call(t0, Ignored)
	call(t0, Failure)
	if s := b.State(t0); s != BreakerClosed {
		t.Fatalf("state after 2 consecutive failures = %v, want closed", s)
	}
	call(t0, Failure)
	if s := b.State(t0); s != BreakerOpen {
		t.Fatalf("state after 3 consecutive failures = %v, want open", s)
	}
	if _, err := b.Allow(t0.Add(999 * time.Millisecond)); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("Allow during cool-down: err = %v, want ErrBreakerOpen", err)
	}

	// After the cool-down: half-open, at most 2 probes in flight.
	t1 := t0.Add(time.Second)
	p1, err := b.Allow(t1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b.Allow(t1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Allow(t1); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("third half-open probe: err = %v, want ErrBreakerOpen", err)
	}
	// A failed probe reopens; the other probe's late answer changes nothing.
	p1.Done(t1, Failure)
	p2.Done(t1, Success)
	if s := b.State(t1); s != BreakerOpen {
		t.Fatalf("after a failed probe state = %v, want open", s)
	}

	// Next cool-down: two good probes close it.
	t2 := t1.Add(time.Second)
	call(t2, Success)
	if s := b.State(t2); s != BreakerHalfOpen {
		t.Fatalf("after one good probe state = %v, want half-open", s)
	}
	call(t2, Success)
	if s := b.State(t2); s != BreakerClosed {
		t.Fatalf("after two good probes state = %v, want closed", s)
	}

	want := []BreakerState{BreakerOpen, BreakerHalfOpen, BreakerOpen, BreakerHalfOpen, BreakerClosed}
	if len(seen) != len(want) {
		t.Fatalf("transitions = %+v, want to-states %v", seen, want)
	}
	for i, tr := range seen {
		if tr.To != want[i] || tr.Reason == "" {
			t.Errorf("transition %d = %+v, want to %v with a reason", i, tr, want[i])
		}
	}
}

func TestBreakerIgnoredProbeFreesItsSlot(t *testing.T) {
	b, err := NewBreaker(BreakerConfig{FailureThreshold: 1, CoolDown: time.Millisecond, HalfOpenProbes: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	tk, _ := b.Allow(t0)
	tk.Done(t0, Failure)
	t1 := t0.Add(time.Millisecond)
	p, err := b.Allow(t1)
	if err != nil {
		t.Fatal(err)
	}
	p.Done(t1, Ignored)
	if _, err := b.Allow(t1); err != nil {
		t.Fatalf("probe slot not freed by an ignored call: %v", err)
	}
}

func TestBreakerConfigValidateNamesFields(t *testing.T) {
	err := BreakerConfig{}.Validate()
	for _, field := range []string{"FailureThreshold", "CoolDown", "HalfOpenProbes"} {
		if err == nil || !contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
}
