package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"paylab/regions"
	"paylab/results"
)

// Limits of a timeline.
const (
	// MaxSteps bounds the steps of one timeline.
	MaxSteps = 1000
	// MaxAt bounds when a step may run, from the start of the run.
	MaxAt = 24 * time.Hour
	// StepTimeout bounds one inject or heal (the roll of a rolling restart
	// runs on after its inject returns, until its heal).
	StepTimeout = time.Minute
)

// Step is one entry of a timeline: at At (from the start of the run),
// inject a fault, or heal the active fault with a given name and target.
type Step struct {
	At time.Duration
	// Inject is the fault an inject step injects; nil in a heal step.
	Inject Fault
	// Heal and Target name the fault a heal step heals: the active fault
	// whose Name and Target are these.
	Heal, Target string
	// Pos is where the step is written ("file:line:col"), for errors.
	Pos string
}

// InjectAt is an inject step.
func InjectAt(at time.Duration, f Fault) Step { return Step{At: at, Inject: f} }

// HealAt is a heal step.
func HealAt(at time.Duration, name, target string) Step {
	return Step{At: at, Heal: name, Target: target}
}

// StepFor builds a timeline step from a scenario step's fields: fault
// names the kind to inject, built with Kind.New from target and params;
// heal names the kind to heal (a heal step takes no parameters: it heals
// the fault its inject step built). Every error starts with pos
// ("file:line:col").
func StepFor(topo regions.Topology, at time.Duration, fault, heal, target string, params map[string]any, pos string) (Step, error) {
	prefix := ""
	if pos != "" {
		prefix = pos + ": "
	}
	name := fault
	if fault == "" {
		name = heal
	}
	switch {
	case fault != "" && heal != "":
		return Step{}, fmt.Errorf("%sa step has fault or heal, not both", prefix)
	case name == "":
		return Step{}, fmt.Errorf("%sa step needs fault or heal", prefix)
	}
	k, ok := Lookup(name)
	if !ok {
		return Step{}, fmt.Errorf("%sno fault called %q (known: %s)", prefix, name, strings.Join(Names(), ", "))
	}
	if heal != "" {
		if len(params) > 0 {
			return Step{}, fmt.Errorf("%sheal %s: a heal step takes no parameters (it heals what its inject step built)", prefix, heal)
		}
		return Step{At: at, Heal: heal, Target: target, Pos: pos}, nil
	}
	f, err := k.New(topo, target, params)
	if err != nil {
		return Step{}, fmt.Errorf("%s%w", prefix, err)
	}
	return Step{At: at, Inject: f, Pos: pos}, nil
}

func (s Step) key() string {
	if s.Inject != nil {
		return faultKey(s.Inject)
	}
	return s.Heal + " on " + strings.TrimSpace(s.Target)
}

func faultKey(f Fault) string { return f.Name() + " on " + strings.TrimSpace(f.Target()) }

func (s Step) where() string {
	if s.Pos != "" {
		return s.Pos + ": "
	}
	return fmt.Sprintf("step at %v: ", s.At)
}

// CheckSteps checks a timeline without running it: at most MaxSteps, each
// At from 0 to MaxAt, each step either an inject or a heal of a catalogue
// fault, no fault injected again while active (same name and target), and
// every heal matching a fault injected earlier and still active. Steps are
// taken in order of At (steps at the same time in the order given).
func CheckSteps(steps []Step) error {
	if len(steps) > MaxSteps {
		return fmt.Errorf("timeline: %d steps, at most %d", len(steps), MaxSteps)
	}
	var errs []error
	active := map[string]string{} // key → where injected
	for _, s := range sortSteps(steps) {
		switch {
		case s.At < 0 || s.At > MaxAt:
			errs = append(errs, fmt.Errorf("%sat %v, want 0 to %v", s.where(), s.At, MaxAt))
		case s.Inject != nil && s.Heal != "":
			errs = append(errs, fmt.Errorf("%sa step injects or heals, not both", s.where()))
		case s.Inject != nil:
			if at, ok := active[s.key()]; ok {
				errs = append(errs, fmt.Errorf("%s%s is already active (injected at %s); heal it first", s.where(), s.key(), at))
				continue
			}
			active[s.key()] = strings.TrimSuffix(s.where(), ": ")
		case s.Heal != "":
			if _, ok := Lookup(s.Heal); !ok {
				errs = append(errs, fmt.Errorf("%sheal: no fault called %q", s.where(), s.Heal))
				continue
			}
			if _, ok := active[s.key()]; !ok {
				errs = append(errs, fmt.Errorf("%sheal %s: no such fault is active at %v (target must be written as in its inject step)", s.where(), s.key(), s.At))
				continue
			}
			delete(active, s.key())
		default:
			errs = append(errs, fmt.Errorf("%sa step must inject a fault or heal one", s.where()))
		}
	}
	return errors.Join(errs...)
}

func sortSteps(steps []Step) []Step {
	out := slices.Clone(steps)
	slices.SortStableFunc(out, func(a, b Step) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	return out
}

// Timeline injects and heals faults on schedule against one lab, records
// each fault's window, and heals whatever is still active when the lab
// stops: the lab calls HealAll in a defer, on Ctrl-C and on panics, so no
// fault outlives the lab that injected it. Its methods are safe for
// concurrent use; a step in progress finishes before HealAll starts.
type Timeline struct {
	env   Env
	steps []Step

	mu     sync.Mutex // held while a step runs, and by HealAll
	active []activeFault
	closed bool // HealAll has run: no more injects
}

type activeFault struct {
	fault Fault
	at    time.Duration // when its inject started
	pos   string
}

// NewTimeline checks steps (CheckSteps) and returns a timeline that runs
// them against env.
func NewTimeline(env Env, steps []Step) (*Timeline, error) {
	if err := CheckSteps(steps); err != nil {
		return nil, err
	}
	return &Timeline{env: env, steps: sortSteps(steps)}, nil
}

// Run runs the steps in order, each when env.Elapsed() reaches its At (at
// once when the timeline is behind), and returns when all have run or ctx
// ends. A step that fails is recorded as a note and reported; later steps
// still run (a heal whose inject failed finds nothing to heal). The error
// joins every step's error, and ctx's when it ended the run early.
func (t *Timeline) Run(ctx context.Context) error {
	var errs []error
	for _, s := range t.steps {
		if wait := s.At - t.env.Elapsed(); wait > 0 && !sleep(ctx, wait) {
			errs = append(errs, fmt.Errorf("timeline stopped before %s at %v: %w", s.key(), s.At, ctx.Err()))
			break
		}
		if err := t.runStep(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s%w", s.where(), err))
		}
	}
	return errors.Join(errs...)
}

func (t *Timeline) runStep(ctx context.Context, s Step) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	if s.Inject == nil {
		return t.healLocked(ctx, s)
	}
	f := s.Inject
	if t.closed {
		return fmt.Errorf("inject %s: the timeline has healed everything and stopped", s.key())
	}
	start := t.env.Elapsed()
	if err := f.Inject(ctx, t.env); err != nil {
		note(t.env, f.Name(), f.Target(), "inject failed: "+err.Error())
		return err
	}
	if _, ok := f.(OneShot); ok {
		t.record(f, start, t.env.Elapsed(), "")
		return nil
	}
	t.active = append(t.active, activeFault{fault: f, at: start, pos: s.Pos})
	return nil
}

func (t *Timeline) healLocked(ctx context.Context, s Step) error {
	i := slices.IndexFunc(t.active, func(a activeFault) bool { return faultKey(a.fault) == s.key() })
	if i < 0 {
		note(t.env, s.Heal, s.Target, "heal: nothing active (its inject failed or HealAll ran)")
		return nil
	}
	a := t.active[i]
	if err := a.fault.Heal(ctx, t.env); err != nil {
		note(t.env, s.Heal, s.Target, "heal failed: "+err.Error())
		return err // still active: HealAll retries
	}
	t.active = slices.Delete(t.active, i, i+1)
	t.record(a.fault, a.at, t.env.Elapsed(), "")
	return nil
}

// record sends a fault's window to the event sink.
func (t *Timeline) record(f Fault, at, until time.Duration, extra string) {
	detail := extra
	if d, ok := f.(Detailer); ok {
		detail = joinDetail(d.Detail(), extra)
	}
	if until <= at { // a window, however short, so the report can shade it
		until = at + time.Nanosecond
	}
	t.env.Record(results.Event{At: at, Until: until, Kind: results.EventFault, Name: f.Name(), Target: f.Target(), Detail: detail})
}

// HealAll heals every fault still active, the last injected first, and
// stops the timeline: later inject steps fail. It waits for a step in
// progress. A fault that fails to heal stays active, so calling HealAll
// again retries it; the error joins every failure. Pass a context that is
// not already cancelled (on Ctrl-C, a fresh one with a timeout).
func (t *Timeline) HealAll(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var errs []error
	for i := len(t.active) - 1; i >= 0; i-- {
		a := t.active[i]
		if err := a.fault.Heal(ctx, t.env); err != nil {
			when := a.at.String()
			if a.pos != "" {
				when += " by the step at " + a.pos
			}
			errs = append(errs, fmt.Errorf("heal %s (injected at %s): %w", faultKey(a.fault), when, err))
			continue
		}
		t.active = slices.Delete(t.active, i, i+1)
		t.record(a.fault, a.at, t.env.Elapsed(), "healed on the lab's way out")
	}
	return errors.Join(errs...)
}

// Running returns the active faults as fault events with no end yet (Until 0): when each inject started,
// its name and target, in inject order.
func (t *Timeline) Running() []results.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]results.Event, len(t.active))
	for i, a := range t.active {
		out[i] = results.Event{At: a.at, Kind: results.EventFault, Name: a.fault.Name(), Target: a.fault.Target()}
	}
	return out
}

// Active returns the faults injected and not healed yet, in inject order.
func (t *Timeline) Active() []Fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Fault, len(t.active))
	for i, a := range t.active {
		out[i] = a.fault
	}
	return out
}
