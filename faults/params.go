package faults

import (
	"fmt"
	"time"

	"paylab/param"
)

// ParamType is the type of a fault parameter as a scenario writes it.
type ParamType string

// Parameter types.
const (
	// Duration is a Go duration string: "40ms", "1.5s". Never negative.
	Duration ParamType = "duration"
	// Int is a whole number, never negative.
	Int ParamType = "int"
	// Fraction is a number from 0 to 1 (0.25), or a percentage ("25%").
	Fraction ParamType = "fraction"
	// Choice is one of a fixed set of words.
	Choice ParamType = "choice"
)

// Param declares one parameter of a Kind: what Kind.New accepts, and what
// the catalogue's documentation prints.
type Param struct {
	Name string
	Type ParamType
	// Doc says what the parameter does, with its unit and bounds.
	Doc string
	// Default is the value when the step leaves the parameter out, written
	// as a scenario would write it; ignored when Required.
	Default string
	// Required parameters have no default.
	Required bool
	// Choices are the accepted words of a Choice parameter.
	Choices []string

	// check enforces rules beyond the type (bounds, resolution).
	check func(v any) error
}

// values are a step's parameters after validation, typed: time.Duration,
// int64, float64 or string, defaults filled in.
type values struct {
	v     map[string]any
	given map[string]bool // named in the step, not defaulted
}

func (v values) dur(name string) time.Duration { return v.v[name].(time.Duration) }
func (v values) int(name string) int64         { return v.v[name].(int64) }
func (v values) frac(name string) float64      { return v.v[name].(float64) }
func (v values) str(name string) string        { return v.v[name].(string) }

// parseParams checks raw (a step's parameters as decoded from YAML) against
// decl with the shared parameter grammar (package param), in the timeline's
// wording: no unknown names, every value of its declared type and within its
// bounds, required ones present. Each problem names its parameter; all are
// joined.
func parseParams(decl []Param, raw map[string]any) (values, error) {
	specs := make([]param.Spec, len(decl))
	for i, p := range decl {
		specs[i] = p.spec()
	}
	v, err := param.Parse("", specs, raw, param.StepWording)
	return values{v: v.Value, given: v.Given}, err
}

// ParamError is a problem with one parameter of a step, so a caller can point at the parameter in its
// file: an unknown name (Unknown, at the key), a missing required one (Missing, at the step) or a bad value
// (at the value). Err's text names the parameter. It is the shared grammar's error (param.Error).
type ParamError = param.Error

// TargetError is a problem with a step's target (unknown region, zone, node or link; none given).
type TargetError struct {
	Target string
	Err    error
}

func (e *TargetError) Error() string { return fmt.Sprintf("target %q: %v", e.Target, e.Err) }

// Unwrap returns the problem.
func (e *TargetError) Unwrap() error { return e.Err }

// kind is t in the shared grammar (0 for a type it does not know).
func (t ParamType) kind() param.Kind {
	switch t {
	case Duration:
		return param.Duration
	case Int:
		return param.Whole
	case Fraction:
		return param.Fraction
	case Choice:
		return param.Word
	}
	return 0
}

// spec is p in the shared grammar.
func (p Param) spec() param.Spec {
	return param.Spec{Name: p.Name, Kind: p.Type.kind(), Required: p.Required, Default: p.Default,
		Choices: p.Choices, Check: p.check, Doc: p.Doc}
}

// parse converts one YAML scalar to the parameter's Go type and checks it.
// A default is parsed the same way, from its text.
func (p Param) parse(raw any) (any, error) {
	if p.Type.kind() == 0 {
		return nil, fmt.Errorf("parameter type %q is not handled", p.Type)
	}
	return p.spec().Parse(raw, param.StepWording)
}

// Checks shared by several parameters.

// atMost bounds a duration.
func atMost(limit time.Duration) func(any) error {
	return func(v any) error {
		if d := v.(time.Duration); d > limit {
			return fmt.Errorf("%v is more than %v", d, limit)
		}
		return nil
	}
}

// wholeMillis bounds a duration and requires whole milliseconds (toxiproxy's
// resolution for latency, jitter and timeouts): rounding silently would make
// the configured figure a lie.
func wholeMillis(limit time.Duration) func(any) error {
	return func(v any) error {
		d := v.(time.Duration)
		if d%time.Millisecond != 0 {
			return fmt.Errorf("%v is not a whole number of milliseconds (toxiproxy's resolution)", d)
		}
		return atMost(limit)(v)
	}
}

// positive requires a duration or int above zero, and at most limit.
func positive(limit int64) func(any) error {
	return func(v any) error {
		var n int64
		switch x := v.(type) {
		case time.Duration:
			n = int64(x)
		case int64:
			n = x
		}
		if n <= 0 {
			return fmt.Errorf("%v, must be more than zero", v)
		}
		if n > limit {
			if d, ok := v.(time.Duration); ok {
				return fmt.Errorf("%v is more than %v", d, time.Duration(limit))
			}
			return fmt.Errorf("%d is more than %d", n, limit)
		}
		return nil
	}
}
