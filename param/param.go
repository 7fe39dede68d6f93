// Package param is the grammar of the parameters a scenario gives a fault step or an assertion: the
// kinds of value (durations, whole numbers, fractions and percentages, words), how a YAML scalar is read
// as each, the rules a parameter list follows (no unknown names, required ones present, defaults filled
// in, every problem reported), and how each problem is worded. faults and assertions declare their
// parameters as Specs and parse them here.
package param

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of value a parameter takes.
type Kind int

// Parameter kinds.
const (
	// Duration is a Go duration string ("40ms", "1.5s"), never negative. A bare number is refused: it
	// has no unit.
	Duration Kind = iota + 1
	// Whole is a whole number from 0 to Spec.Max: an integer, a float with no fraction, or its text.
	Whole
	// Fraction is a number from 0 to 1 (0.25), or a percentage ("25%").
	Fraction
	// Word is a string; Spec.Choices, when set, lists the words accepted.
	Word
)

// Spec declares one parameter.
type Spec struct {
	Name string
	Kind Kind
	// Required parameters have no default.
	Required bool
	// Default is the value when the parameter is left out, written as a scenario would write it; ""
	// leaves it out of the values. Ignored when Required.
	Default string
	// Choices are the accepted words of a Word parameter; a trailing ":" accepts any suffix
	// ("during:" accepts "during:zone-down"). Empty accepts any word.
	Choices []string
	// Max bounds a Whole parameter (0: no bound below math.MaxInt64).
	Max int64
	// Check enforces rules beyond the kind (bounds, resolution) on the parsed value.
	Check func(v any) error
	// Doc says what the parameter does; a missing required parameter's problem quotes it.
	Doc string
}

// Values are a parameter list after Parse: each value typed by its kind (time.Duration, int64,
// float64 or string), defaults filled in.
type Values struct {
	Value map[string]any
	Given map[string]bool // named in the list, not defaulted
}

// Error is a problem with one parameter, so a caller can point at it in its file: an unknown name
// (Unknown, at the key), a missing required one (Missing, at the list) or a bad value (at the value).
// Err's text names the parameter (and the owner, in the assertions' wording).
type Error struct {
	Owner   string // the assertion the parameter belongs to; "" for a fault step
	Param   string
	Unknown bool
	Missing bool
	Err     error
}

// Error returns the problem's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Parse checks raw (a parameter list as decoded from YAML) against specs: no unknown names, every value
// of its kind and passing its Check, required ones present. Each problem is an *Error naming its
// parameter, worded as w words them; all are joined, in name order. owner names the list's assertion
// in the assertions' wording.
func Parse(owner string, specs []Spec, raw map[string]any, w Wording) (Values, error) {
	out := Values{Value: map[string]any{}, Given: map[string]bool{}}
	var errs []error
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names) // report in a stable order
	for _, name := range names {
		i := slices.IndexFunc(specs, func(s Spec) bool { return s.Name == name })
		if i < 0 {
			errs = append(errs, &Error{Owner: owner, Param: name, Unknown: true, Err: w.unknown(owner, name, specNames(specs))})
			continue
		}
		v, err := specs[i].Parse(raw[name], w)
		if err != nil {
			errs = append(errs, &Error{Owner: owner, Param: name, Err: w.bad(owner, name, err)})
			continue
		}
		out.Value[name] = v
		out.Given[name] = true
	}
	for _, s := range specs {
		if _, ok := raw[s.Name]; ok {
			continue
		}
		if s.Required {
			errs = append(errs, &Error{Owner: owner, Param: s.Name, Missing: true, Err: w.missing(owner, s)})
			continue
		}
		if s.Default == "" {
			continue
		}
		v, err := s.Parse(s.Default, w)
		if err != nil { // a bug in a catalogue; the catalogues' tests parse every default
			errs = append(errs, w.badDefault(owner, s, err))
			continue
		}
		out.Value[s.Name] = v
	}
	return out, errors.Join(errs...)
}

func specNames(specs []Spec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// Parse reads one YAML scalar (or a default's text) as the parameter's kind and checks it. A value
// that is not of the kind is a *ValueError worded as w words it.
func (s Spec) Parse(raw any, w Wording) (any, error) {
	var v any
	var err error
	switch s.Kind {
	case Duration:
		v, err = ParseDuration(raw)
	case Whole:
		v, err = ParseWhole(raw, s.Max)
	case Fraction:
		v, err = ParseFraction(raw)
	case Word:
		v, err = ParseWord(raw, s.Choices)
	default:
		return nil, fmt.Errorf("parameter kind %d is not handled", s.Kind)
	}
	if ve, ok := errors.AsType[*ValueError](err); ok {
		ve.Wording = w
	}
	if err == nil && s.Check != nil {
		err = s.Check(v)
	}
	return v, err
}

// Reason is why a scalar is not a value of its kind.
type Reason int

// Reasons.
const (
	// WrongType: the YAML value is of another type (a number for a duration, a list for a word).
	WrongType Reason = iota + 1
	// Malformed: text that does not read as the kind.
	Malformed
	// Negative: a duration or whole number below zero.
	Negative
	// NotWhole: a number with a fraction, or too large to be exact, for a whole number.
	NotWhole
	// TooLarge: a whole number beyond the parameter's bound as YAML's unsigned integer.
	TooLarge
	// OutOfRange: a fraction outside 0..1, or a whole number above the parameter's bound.
	OutOfRange
	// NotChoice: a word not among the choices.
	NotChoice
)

// ValueError is a scalar that is not a value of its kind, and why.
type ValueError struct {
	Kind   Kind
	Reason Reason
	Raw    any      // the scalar as given
	Value  any      // what it read as, where it read (Negative, OutOfRange, TooLarge)
	Max    int64    // a whole number's bound
	Choice []string // a word's choices
	// Wording is how the message is worded (Spec.Parse sets it).
	Wording Wording
}

// Error words the problem as its Wording does.
func (e *ValueError) Error() string { return e.Wording.value(e) }

// ParseDuration reads a duration: a string Go's time.ParseDuration accepts, not negative.
func ParseDuration(raw any) (time.Duration, error) {
	s, ok := raw.(string)
	if !ok {
		return 0, &ValueError{Kind: Duration, Reason: WrongType, Raw: raw}
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, &ValueError{Kind: Duration, Reason: Malformed, Raw: raw}
	}
	if d < 0 {
		return 0, &ValueError{Kind: Duration, Reason: Negative, Raw: raw, Value: d}
	}
	return d, nil
}

// ParseWhole reads a whole number from 0 to max (max 0: math.MaxInt64): an integer, a float with no
// fraction (exact up to 2^53), or their text.
func ParseWhole(raw any, max int64) (int64, error) {
	if max <= 0 {
		max = math.MaxInt64
	}
	bad := func(r Reason, v any) (int64, error) {
		return 0, &ValueError{Kind: Whole, Reason: r, Raw: raw, Value: v, Max: max}
	}
	var n int64
	switch v := raw.(type) {
	case int:
		n = int64(v)
	case int64:
		n = v
	case uint64:
		if v > uint64(max) {
			return bad(TooLarge, v)
		}
		n = int64(v)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return bad(NotWhole, v)
		}
		n = int64(v)
	case string: // a default, or a quoted number
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad(Malformed, nil)
		}
		n = i
	default:
		return bad(WrongType, nil)
	}
	switch {
	case n < 0:
		return bad(Negative, n)
	case n > max:
		return bad(OutOfRange, n)
	}
	return n, nil
}

// ParseFraction reads a number from 0 to 1, or a percentage ("25%") of it.
func ParseFraction(raw any) (float64, error) {
	var f float64
	switch v := raw.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint64:
		f = float64(v)
	case string:
		s := strings.TrimSpace(v)
		pct := strings.HasSuffix(s, "%")
		x, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil {
			return 0, &ValueError{Kind: Fraction, Reason: Malformed, Raw: raw}
		}
		if pct {
			x /= 100
		}
		f = x
	default:
		return 0, &ValueError{Kind: Fraction, Reason: WrongType, Raw: raw}
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, &ValueError{Kind: Fraction, Reason: OutOfRange, Raw: raw, Value: f}
	}
	return f, nil
}

// ParseWord reads a string; with choices, one of them (a choice ending in ":" accepts any suffix).
func ParseWord(raw any, choices []string) (string, error) {
	s, ok := raw.(string)
	if !ok {
		return "", &ValueError{Kind: Word, Reason: WrongType, Raw: raw, Choice: choices}
	}
	if len(choices) == 0 {
		return s, nil
	}
	for _, c := range choices {
		if s == c || strings.HasSuffix(c, ":") && strings.HasPrefix(s, c) && len(s) > len(c) {
			return s, nil
		}
	}
	return "", &ValueError{Kind: Word, Reason: NotChoice, Raw: raw, Choice: choices}
}
