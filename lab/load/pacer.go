package load

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// A Pacer decides when the next request is due (after vegeta's lib/pacer.go). It keeps no
// state: given the time elapsed since the start and the number of requests already sent
// (hits), it returns how long to wait before sending request number hits (0-based), or stop
// when the schedule has ended.
//
// Contract: when elapsed is at or before the request's due time, wait must be exactly the due
// time minus elapsed; when elapsed is past it, wait is 0. The generator relies on this to stamp
// each request's intended send time: it calls Pace with the previous request's due time, so
// the schedule is exact however late the generator's own timers fire.
type Pacer interface {
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
}

// Hitter is implemented by pacers that can say how many requests are due by elapsed; the
// generator uses it to count missed sends in O(1).
type Hitter interface {
	Hits(elapsed time.Duration) uint64
}

// Compile-time checks that the pacers satisfy the interfaces.
var (
	_ Pacer  = ConstantPacer{}
	_ Pacer  = LinearPacer{}
	_ Pacer  = StepsPacer{}
	_ Hitter = ConstantPacer{}
	_ Hitter = LinearPacer{}
	_ Hitter = StepsPacer{}
)

// paceFromDue implements the Pacer contract from a due-time function.
func paceFromDue(due time.Duration, stop bool, elapsed time.Duration) (time.Duration, bool) {
	if stop {
		return 0, true
	}
	if due <= elapsed {
		return 0, false
	}
	return due - elapsed, false
}

// seconds converts a floating number of seconds to a Duration, saturating.
func seconds(s float64) (time.Duration, bool) {
	ns := s * 1e9
	if math.IsNaN(ns) || ns >= math.MaxInt64 || math.IsInf(ns, 0) {
		return 0, false
	}
	return time.Duration(ns), true
}

// ConstantPacer sends Rate requests per second, the first at time zero.
type ConstantPacer struct {
	Rate float64 // requests per second; ≤ 0 sends nothing
}

// Pace implements Pacer.
func (p ConstantPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if !(p.Rate > 0) {
		return 0, true
	}
	due, ok := seconds(float64(hits) / p.Rate)
	return paceFromDue(due, !ok, elapsed)
}

// Hits implements Hitter: requests due at or before elapsed.
func (p ConstantPacer) Hits(elapsed time.Duration) uint64 {
	if !(p.Rate > 0) || elapsed < 0 {
		return 0
	}
	return uint64(math.Floor(elapsed.Seconds()*p.Rate)) + 1
}

// String describes the pacer for reports.
func (p ConstantPacer) String() string { return fmt.Sprintf("constant %g/s", p.Rate) }

// LinearPacer ramps the rate linearly from Start to End requests per second over Over, then
// holds End.
type LinearPacer struct {
	Start float64       // requests per second at time zero
	End   float64       // requests per second from Over on
	Over  time.Duration // length of the ramp
}

// hitsAt is the (fractional) number of requests due by t seconds.
func (p LinearPacer) hitsAt(t float64) float64 {
	over := p.Over.Seconds()
	if over <= 0 {
		return p.End * t
	}
	slope := (p.End - p.Start) / over
	if t <= over {
		return p.Start*t + slope*t*t/2
	}
	return p.Start*over + slope*over*over/2 + p.End*(t-over)
}

// dueSeconds solves hitsAt(t) = n for t; false if it never comes.
func (p LinearPacer) dueSeconds(n float64) (float64, bool) {
	over := p.Over.Seconds()
	if over > 0 {
		rampHits := p.hitsAt(over)
		if n <= rampHits {
			slope := (p.End - p.Start) / over
			if math.Abs(slope) < 1e-12 {
				if p.Start <= 0 {
					return 0, n == 0
				}
				return n / p.Start, true
			}
			disc := p.Start*p.Start + 2*slope*n
			if disc < 0 {
				return 0, false
			}
			return (-p.Start + math.Sqrt(disc)) / slope, true
		}
		n -= rampHits
		if p.End <= 0 {
			return 0, false
		}
		return over + n/p.End, true
	}
	if p.End <= 0 {
		return 0, false
	}
	return n / p.End, true
}

// Pace implements Pacer.
func (p LinearPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.Start < 0 || p.End < 0 || (p.Start == 0 && p.End == 0) {
		return 0, true
	}
	s, ok := p.dueSeconds(float64(hits))
	if !ok {
		return 0, true
	}
	due, ok := seconds(s)
	return paceFromDue(due, !ok, elapsed)
}

// Hits implements Hitter.
func (p LinearPacer) Hits(elapsed time.Duration) uint64 {
	if elapsed < 0 || p.Start < 0 || p.End < 0 {
		return 0
	}
	h := p.hitsAt(elapsed.Seconds())
	if h < 0 {
		return 0
	}
	return uint64(math.Floor(h+1e-9)) + 1
}

// String describes the pacer for reports.
func (p LinearPacer) String() string {
	return fmt.Sprintf("ramp %g/s→%g/s over %v", p.Start, p.End, p.Over)
}

// Step is one stage of a StepsPacer.
type Step struct {
	Rate float64       // requests per second during the step (0 is a pause)
	For  time.Duration // length of the step
}

// StepsPacer holds each step's rate for its length, then stops.
type StepsPacer struct {
	Steps []Step
}

// Pace implements Pacer.
func (p StepsPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	n := float64(hits)
	var at time.Duration
	for _, s := range p.Steps {
		if s.Rate < 0 || s.For < 0 {
			return 0, true
		}
		// Requests due in [at, at+For): those with offsets k/Rate < For.
		inStep := math.Ceil(s.For.Seconds() * s.Rate)
		if n < inStep {
			off, ok := seconds(n / s.Rate)
			if !ok {
				return 0, true
			}
			return paceFromDue(at+off, false, elapsed)
		}
		n -= inStep
		at += s.For
	}
	return 0, true
}

// Hits implements Hitter.
func (p StepsPacer) Hits(elapsed time.Duration) uint64 {
	var total uint64
	var at time.Duration
	for _, s := range p.Steps {
		if elapsed < at || s.Rate <= 0 {
			at += s.For
			continue
		}
		inStep := uint64(math.Ceil(s.For.Seconds() * s.Rate))
		upTo := uint64(math.Floor((elapsed-at).Seconds()*s.Rate)) + 1
		total += min(inStep, upTo)
		at += s.For
	}
	return total
}

// Total is the length of all steps.
func (p StepsPacer) Total() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.For
	}
	return d
}

// String describes the pacer for reports.
func (p StepsPacer) String() string {
	parts := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		parts[i] = fmt.Sprintf("%g/s for %v", s.Rate, s.For)
	}
	return "steps " + strings.Join(parts, ", ")
}
