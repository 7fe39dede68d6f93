package faults

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"paylab/suggest"
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
// decl: no unknown names, every value of its declared type and within its
// bounds, required ones present. Each problem names its parameter; all are
// joined.
func parseParams(decl []Param, raw map[string]any) (values, error) {
	out := values{v: map[string]any{}, given: map[string]bool{}}
	var errs []error
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names) // report in a stable order
	for _, name := range names {
		i := slices.IndexFunc(decl, func(p Param) bool { return p.Name == name })
		if i < 0 {
			errs = append(errs, &ParamError{Param: name, Unknown: true,
				Err: fmt.Errorf("unknown parameter %q (%s%s)", name, known(decl), suggest.DidYouMean(name, paramNames(decl)))})
			continue
		}
		v, err := decl[i].parse(raw[name])
		if err != nil {
			errs = append(errs, &ParamError{Param: name, Err: fmt.Errorf("parameter %s: %w", name, err)})
			continue
		}
		out.v[name] = v
		out.given[name] = true
	}
	for _, p := range decl {
		if _, ok := out.v[p.Name]; ok || slices.Contains(names, p.Name) {
			continue
		}
		if p.Required {
			errs = append(errs, &ParamError{Param: p.Name, Missing: true, Err: fmt.Errorf("parameter %s is required: %s", p.Name, p.Doc)})
			continue
		}
		v, err := p.parse(p.Default)
		if err != nil { // a bug in the catalogue; TestCatalogueDefaultsParse catches it
			errs = append(errs, fmt.Errorf("parameter %s: default %q: %w", p.Name, p.Default, err))
			continue
		}
		out.v[p.Name] = v
	}
	return out, errors.Join(errs...)
}

// ParamError is a problem with one parameter of a step, so a caller can point at the parameter in its
// file: an unknown name (Unknown, at the key), a missing required one (Missing, at the step) or a bad value
// (at the value). Err's text names the parameter.
type ParamError struct {
	Param   string
	Unknown bool
	Missing bool
	Err     error
}

func (e *ParamError) Error() string { return e.Err.Error() }

// Unwrap returns the problem.
func (e *ParamError) Unwrap() error { return e.Err }

// TargetError is a problem with a step's target (unknown region, zone, node or link; none given).
type TargetError struct {
	Target string
	Err    error
}

func (e *TargetError) Error() string { return fmt.Sprintf("target %q: %v", e.Target, e.Err) }

// Unwrap returns the problem.
func (e *TargetError) Unwrap() error { return e.Err }

func paramNames(decl []Param) []string {
	names := make([]string, len(decl))
	for i, p := range decl {
		names[i] = p.Name
	}
	return names
}

func known(decl []Param) string {
	if len(decl) == 0 {
		return "this fault takes no parameters"
	}
	names := make([]string, len(decl))
	for i, p := range decl {
		names[i] = p.Name
	}
	return "known: " + strings.Join(names, ", ")
}

// parse converts one YAML scalar to the parameter's Go type and checks it.
// A default is parsed the same way, from its text.
func (p Param) parse(raw any) (any, error) {
	var v any
	var err error
	switch p.Type {
	case Duration:
		v, err = parseDuration(raw)
	case Int:
		v, err = parseInt(raw)
	case Fraction:
		v, err = parseFraction(raw)
	case Choice:
		s, ok := raw.(string)
		if !ok || !slices.Contains(p.Choices, s) {
			err = fmt.Errorf("%s, want one of %s", describe(raw), strings.Join(p.Choices, ", "))
		}
		v = s
	default:
		err = fmt.Errorf("parameter type %q is not handled", p.Type)
	}
	if err == nil && p.check != nil {
		err = p.check(v)
	}
	return v, err
}

func parseDuration(raw any) (time.Duration, error) {
	s, ok := raw.(string)
	if !ok {
		return 0, fmt.Errorf("%s, want a duration such as 40ms", describe(raw))
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q, want a duration such as 40ms", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%v is negative", d)
	}
	return d, nil
}

func parseInt(raw any) (int64, error) {
	var n int64
	switch v := raw.(type) {
	case int:
		n = int64(v)
	case int64:
		n = v
	case uint64:
		if v > math.MaxInt64 {
			return 0, fmt.Errorf("%d is too large", v)
		}
		n = int64(v)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, fmt.Errorf("%v, want a whole number", v)
		}
		n = int64(v)
	case string: // a default, or a quoted number
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q, want a whole number", v)
		}
		n = i
	default:
		return 0, fmt.Errorf("%s, want a whole number", describe(raw))
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative", n)
	}
	return n, nil
}

func parseFraction(raw any) (float64, error) {
	var f float64
	switch v := raw.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case string:
		s := strings.TrimSpace(v)
		pct := strings.HasSuffix(s, "%")
		x, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil {
			return 0, fmt.Errorf("%q, want a fraction such as 0.25 or 25%%", v)
		}
		if pct {
			x /= 100
		}
		f = x
	default:
		return 0, fmt.Errorf("%s, want a fraction such as 0.25 or 25%%", describe(raw))
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("%v, want 0 to 1", raw)
	}
	return f, nil
}

// describe names a raw value and its YAML type for an error message.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "empty value"
	case string:
		return fmt.Sprintf("%q", v)
	case int, int64, uint64:
		return fmt.Sprintf("number %v", v)
	case float64:
		return fmt.Sprintf("number %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	}
	return fmt.Sprintf("%T", raw)
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
