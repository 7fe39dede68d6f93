package param

import (
	"fmt"
	"strconv"
	"strings"

	"paylab/suggest"
)

// Wording is how a family of parameter lists words its problems. The two families grew their own
// phrasing before they shared a grammar; scenario authors, docs and tests know both, so both are kept,
// here, side by side.
type Wording int

// Wordings.
const (
	// StepWording is the fault timeline's: `parameter latency: -5ms is negative`,
	// `unknown parameter "latncy" (known: latency, jitter)`, `parameter latency is required: …`.
	// The fault's name is added by the caller.
	StepWording Wording = iota
	// AssertionWording is the assertions': `p99: below: "-5ms" is negative`,
	// `p99: unknown parameter "within" (accepted: below, phase)`, `p99: parameter "below" is required (…)`.
	AssertionWording
)

func (w Wording) unknown(owner, name string, known []string) error {
	if w == AssertionWording {
		list := "none"
		if len(known) > 0 {
			list = strings.Join(known, ", ")
		}
		return fmt.Errorf("%s: unknown parameter %q (accepted: %s%s)", owner, name, list, suggest.DidYouMean(name, known))
	}
	list := "this fault takes no parameters"
	if len(known) > 0 {
		list = "known: " + strings.Join(known, ", ")
	}
	return fmt.Errorf("unknown parameter %q (%s%s)", name, list, suggest.DidYouMean(name, known))
}

func (w Wording) bad(owner, name string, err error) error {
	if w == AssertionWording {
		return fmt.Errorf("%s: %s: %w", owner, name, err)
	}
	return fmt.Errorf("parameter %s: %w", name, err)
}

func (w Wording) missing(owner string, s Spec) error {
	if w == AssertionWording {
		return fmt.Errorf("%s: parameter %q is required (%s)", owner, s.Name, s.Doc)
	}
	return fmt.Errorf("parameter %s is required: %s", s.Name, s.Doc)
}

func (w Wording) badDefault(owner string, s Spec, err error) error {
	if w == AssertionWording {
		return fmt.Errorf("%s: default of %s: %w", owner, s.Name, err)
	}
	return fmt.Errorf("parameter %s: default %q: %w", s.Name, s.Default, err)
}

// value words a ValueError.
func (w Wording) value(e *ValueError) string {
	if w == AssertionWording {
		return assertionValue(e)
	}
	return stepValue(e)
}

// stepValue is the fault timeline's wording: "<what was given>, want <what is accepted>".
func stepValue(e *ValueError) string {
	switch {
	case e.Reason == Negative || e.Reason == TooLarge && e.Kind == Whole:
		verb := "is negative"
		if e.Reason == TooLarge {
			verb = "is too large"
		}
		return fmt.Sprintf("%v %s", e.Value, verb)
	case e.Reason == OutOfRange && e.Kind == Whole:
		return fmt.Sprintf("%v is more than %d", e.Value, e.Max)
	case e.Reason == OutOfRange:
		return fmt.Sprintf("%v, want 0 to 1", e.Raw)
	case e.Reason == NotWhole:
		return fmt.Sprintf("%v, want a whole number", e.Raw)
	}
	switch e.Kind {
	case Duration:
		return describe(e.Raw) + ", want a duration such as 40ms"
	case Whole:
		return describe(e.Raw) + ", want a whole number"
	case Fraction:
		return describe(e.Raw) + ", want a fraction such as 0.25 or 25%"
	}
	return describe(e.Raw) + ", want one of " + strings.Join(e.Choice, ", ")
}

// assertionValue is the assertions' wording: "<what was given> is not <what is accepted>".
func assertionValue(e *ValueError) string {
	q := quote(e.Raw)
	switch e.Kind {
	case Duration:
		switch e.Reason {
		case WrongType:
			return q + " is not a duration (write it with a unit, e.g. 50ms or 3s)"
		case Negative:
			return q + " is negative"
		}
		return q + " is not a duration"
	case Whole:
		switch e.Reason {
		case TooLarge:
			return fmt.Sprintf("%d is too large", e.Value)
		case Negative, OutOfRange:
			return fmt.Sprintf("%d is outside 0..%d", e.Value, e.Max)
		}
		return q + " is not a whole number"
	case Fraction:
		if e.Reason == OutOfRange {
			return q + " is outside 0%..100% (write a percentage with %, e.g. 5%)"
		}
		return q + " is not a percentage (e.g. 0.1%) or a fraction (e.g. 0.001)"
	}
	if e.Reason == WrongType {
		return q + " is not text"
	}
	return q + " is not one of " + strings.Join(e.Choice, ", ")
}

// describe names a raw value and its YAML type (the fault timeline's wording).
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "empty value"
	case string:
		return fmt.Sprintf("%q", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("number %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	}
	return fmt.Sprintf("%T", raw)
}

// quote renders a raw value with strings quoted and numbers bare (the assertions' wording).
func quote(raw any) string {
	if s, ok := raw.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(raw)
}
