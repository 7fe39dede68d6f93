package assertions

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"paylab/suggest"
)

// ParamKind is the type of an assertion parameter as written in a scenario.
type ParamKind string

// Parameter kinds.
const (
	// Duration is a Go duration string: "50ms", "3s". A bare number is refused (no unit).
	Duration ParamKind = "duration"
	// Fraction is a percentage ("0.1%") or a number within 0..1 (0.001).
	Fraction ParamKind = "fraction"
	// Text is a string; Param.Choices, when set, lists the values allowed.
	Text ParamKind = "text"
	// Count is a non-negative whole number.
	Count ParamKind = "count"
)

// Param describes one parameter an assertion accepts.
type Param struct {
	Name     string
	Kind     ParamKind
	Required bool
	// Default is the value used when the parameter is absent, as text ("" when none).
	Default string
	// Choices lists the accepted values of a Text parameter; a trailing ":" accepts any suffix
	// ("during:" accepts "during:zone-down"). Empty accepts any text.
	Choices []string
	Doc     string
}

// params holds the validated values of one assertion's parameters.
type params struct {
	name   string
	values map[string]any // time.Duration, float64, string, int
}

func (p *params) duration(name string) time.Duration {
	d, _ := p.values[name].(time.Duration)
	return d
}

func (p *params) fraction(name string) float64 {
	f, _ := p.values[name].(float64)
	return f
}

func (p *params) text(name string) string {
	s, _ := p.values[name].(string)
	return s
}

func (p *params) count(name string) int {
	n, _ := p.values[name].(int)
	return n
}

// parseParams checks raw parameters against the definition: unknown names, missing required
// ones, wrong types and bad values are each a *ParamError naming the assertion and the
// parameter; every problem is reported (joined), not only the first.
func parseParams(def *Definition, raw map[string]any) (*params, error) {
	p := &params{name: def.Name, values: map[string]any{}}
	known := map[string]*Param{}
	for i := range def.Params {
		known[def.Params[i].Name] = &def.Params[i]
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		spec, ok := known[k]
		if !ok {
			var hint string
			if c, ok := suggest.Closest(k, paramList(def)); ok {
				hint = "; did you mean " + c + "?"
			}
			errs = append(errs, &ParamError{Assertion: def.Name, Param: k, Unknown: true,
				Err: fmt.Errorf("%s: unknown parameter %q (accepted: %s%s)", def.Name, k, paramNames(def), hint)})
			continue
		}
		v, err := parseValue(spec, raw[k])
		if err != nil {
			errs = append(errs, &ParamError{Assertion: def.Name, Param: k, Err: fmt.Errorf("%s: %s: %w", def.Name, k, err)})
			continue
		}
		p.values[k] = v
	}
	for i := range def.Params {
		spec := &def.Params[i]
		if _, ok := raw[spec.Name]; ok {
			continue
		}
		if spec.Required {
			errs = append(errs, &ParamError{Assertion: def.Name, Param: spec.Name, Missing: true,
				Err: fmt.Errorf("%s: parameter %q is required (%s)", def.Name, spec.Name, spec.Doc)})
			continue
		}
		if spec.Default != "" {
			v, err := parseValue(spec, spec.Default)
			if err != nil {
				return nil, fmt.Errorf("%s: default of %s: %w", def.Name, spec.Name, err)
			}
			p.values[spec.Name] = v
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// ParamError is a problem with one parameter of an assertion, so a scenario can point at it in
// its file: an unknown name (Unknown), a missing required one (Missing) or a bad value. Err's
// text names the assertion and the parameter.
type ParamError struct {
	Assertion, Param string
	Unknown, Missing bool
	Err              error
}

func (e *ParamError) Error() string { return e.Err.Error() }

// Unwrap returns the problem.
func (e *ParamError) Unwrap() error { return e.Err }

func paramList(def *Definition) []string {
	out := make([]string, len(def.Params))
	for i, p := range def.Params {
		out[i] = p.Name
	}
	return out
}

func paramNames(def *Definition) string {
	if len(def.Params) == 0 {
		return "none"
	}
	names := make([]string, len(def.Params))
	for i, p := range def.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func parseValue(spec *Param, raw any) (any, error) {
	switch spec.Kind {
	case Duration:
		return parseDuration(raw)
	case Fraction:
		return parseFraction(raw)
	case Count:
		return parseCount(raw)
	case Text:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("%s is not text", quote(raw))
		}
		if len(spec.Choices) == 0 {
			return s, nil
		}
		for _, c := range spec.Choices {
			if s == c || strings.HasSuffix(c, ":") && strings.HasPrefix(s, c) && len(s) > len(c) {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%s is not one of %s", quote(raw), strings.Join(spec.Choices, ", "))
	}
	return nil, fmt.Errorf("parameter kind %q is not known", spec.Kind)
}

// quote renders a raw YAML value for an error message: strings quoted, numbers bare.
func quote(raw any) string {
	if s, ok := raw.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(raw)
}

func parseDuration(raw any) (time.Duration, error) {
	s, ok := raw.(string)
	if !ok {
		return 0, fmt.Errorf("%s is not a duration (write it with a unit, e.g. 50ms or 3s)", quote(raw))
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration", quote(raw))
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", quote(raw))
	}
	return d, nil
}

func parseFraction(raw any) (float64, error) {
	var f float64
	switch x := raw.(type) {
	case string:
		s := strings.TrimSpace(x)
		pct := strings.HasSuffix(s, "%")
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			return 0, fmt.Errorf("%s is not a percentage (e.g. 0.1%%) or a fraction (e.g. 0.001)", quote(raw))
		}
		f = v
		if pct {
			f = v / 100
		}
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float64:
		f = x
	default:
		return 0, fmt.Errorf("%s is not a percentage (e.g. 0.1%%) or a fraction (e.g. 0.001)", quote(raw))
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("%s is outside 0%%..100%% (write a percentage with %%, e.g. 5%%)", quote(raw))
	}
	return f, nil
}

func parseCount(raw any) (int, error) {
	var n int64
	switch x := raw.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt32 {
			return 0, fmt.Errorf("%d is too large", x)
		}
		n = int64(x)
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
		n = int64(x)
	case string:
		v, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s is not a whole number", quote(raw))
		}
		n = v
	default:
		return 0, fmt.Errorf("%s is not a whole number", quote(raw))
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%d is outside 0..%d", n, math.MaxInt32)
	}
	return int(n), nil
}
