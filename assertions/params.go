package assertions

import (
	"math"
	"time"

	"paylab/param"
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

// parseParams checks raw parameters against the definition with the shared parameter grammar
// (package param), in the assertions' wording: unknown names, missing required ones, wrong types
// and bad values are each a *ParamError naming the assertion and the parameter; every problem is
// reported (joined), not only the first.
func parseParams(def *Definition, raw map[string]any) (*params, error) {
	specs := make([]param.Spec, len(def.Params))
	for i, p := range def.Params {
		specs[i] = p.spec()
	}
	v, err := param.Parse(def.Name, specs, raw, param.AssertionWording)
	if err != nil {
		return nil, err
	}
	p := &params{name: def.Name, values: v.Value}
	for i := range def.Params {
		if n, ok := p.values[def.Params[i].Name].(int64); ok {
			p.values[def.Params[i].Name] = int(n) // a Count is at most math.MaxInt32
		}
	}
	return p, nil
}

// ParamError is a problem with one parameter of an assertion, so a scenario can point at it in
// its file: an unknown name (Unknown), a missing required one (Missing) or a bad value. Err's
// text names the assertion (Owner) and the parameter. It is the shared grammar's error
// (param.Error).
type ParamError = param.Error

// spec is p in the shared grammar.
func (p Param) spec() param.Spec {
	s := param.Spec{Name: p.Name, Required: p.Required, Default: p.Default, Choices: p.Choices, Doc: p.Doc}
	switch p.Kind {
	case Duration:
		s.Kind = param.Duration
	case Fraction:
		s.Kind = param.Fraction
	case Text:
		s.Kind = param.Word
	case Count:
		s.Kind, s.Max = param.Whole, math.MaxInt32
	}
	return s
}
