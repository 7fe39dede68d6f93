package param

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestKindsReadTheirScalars(t *testing.T) {
	for _, c := range []struct {
		spec Spec
		raw  any
		want any
	}{
		{Spec{Kind: Duration}, "40ms", 40 * time.Millisecond},
		{Spec{Kind: Duration}, " 1.5s ", 1500 * time.Millisecond},
		{Spec{Kind: Whole}, 3, int64(3)},
		{Spec{Kind: Whole}, 4.0, int64(4)},
		{Spec{Kind: Whole}, " 12 ", int64(12)},
		{Spec{Kind: Whole, Max: 10}, uint64(10), int64(10)},
		{Spec{Kind: Fraction}, 0.25, 0.25},
		{Spec{Kind: Fraction}, "25%", 0.25},
		{Spec{Kind: Fraction}, "25 %", 0.25},
		{Spec{Kind: Fraction}, 1, 1.0},
		{Spec{Kind: Word}, "anything", "anything"},
		{Spec{Kind: Word, Choices: []string{"start", "during:"}}, "during:zone-down", "during:zone-down"},
	} {
		got, err := c.spec.Parse(c.raw, StepWording)
		if err != nil || got != c.want {
			t.Errorf("%v as kind %d: got %v, %v; want %v", c.raw, c.spec.Kind, got, err, c.want)
		}
	}
}

// Both wordings of every reason a scalar is refused: the fault timeline's and the assertions'.
func TestValueProblemsInBothWordings(t *testing.T) {
	for _, c := range []struct {
		spec         Spec
		raw          any
		reason       Reason
		step, assert string
	}{
		{Spec{Kind: Duration}, 40, WrongType, "number 40, want a duration such as 40ms", "40 is not a duration (write it with a unit, e.g. 50ms or 3s)"},
		{Spec{Kind: Duration}, "fast", Malformed, `"fast", want a duration such as 40ms`, `"fast" is not a duration`},
		{Spec{Kind: Duration}, "-5ms", Negative, "-5ms is negative", `"-5ms" is negative`},
		{Spec{Kind: Whole, Max: math.MaxInt32}, 1.5, NotWhole, "1.5, want a whole number", "1.5 is not a whole number"},
		{Spec{Kind: Whole, Max: math.MaxInt32}, true, WrongType, "boolean true, want a whole number", "true is not a whole number"},
		{Spec{Kind: Whole, Max: math.MaxInt32}, "x", Malformed, `"x", want a whole number`, `"x" is not a whole number`},
		{Spec{Kind: Whole, Max: math.MaxInt32}, -2, Negative, "-2 is negative", "-2 is outside 0..2147483647"},
		{Spec{Kind: Whole, Max: math.MaxInt32}, uint64(1 << 40), TooLarge, "1099511627776 is too large", "1099511627776 is too large"},
		{Spec{Kind: Whole, Max: math.MaxInt32}, int64(1 << 40), OutOfRange, "1099511627776 is more than 2147483647", "1099511627776 is outside 0..2147483647"},
		{Spec{Kind: Fraction}, "lots", Malformed, `"lots", want a fraction such as 0.25 or 25%`, `"lots" is not a percentage (e.g. 0.1%) or a fraction (e.g. 0.001)`},
		{Spec{Kind: Fraction}, nil, WrongType, "empty value, want a fraction such as 0.25 or 25%", "<nil> is not a percentage (e.g. 0.1%) or a fraction (e.g. 0.001)"},
		{Spec{Kind: Fraction}, "150%", OutOfRange, "150%, want 0 to 1", `"150%" is outside 0%..100% (write a percentage with %, e.g. 5%)`},
		{Spec{Kind: Word, Choices: []string{"in", "out"}}, "up", NotChoice, `"up", want one of in, out`, `"up" is not one of in, out`},
		{Spec{Kind: Word, Choices: []string{"during:"}}, "before:x", NotChoice, `"before:x", want one of during:`, `"before:x" is not one of during:`},
		{Spec{Kind: Word}, 3, WrongType, "number 3, want one of ", "3 is not text"},
	} {
		for w, want := range map[Wording]string{StepWording: c.step, AssertionWording: c.assert} {
			_, err := c.spec.Parse(c.raw, w)
			ve, ok := errors.AsType[*ValueError](err)
			if !ok || ve.Reason != c.reason || err.Error() != want {
				t.Errorf("%v (kind %d, wording %d): got %v (%+v), want %q for reason %d", c.raw, c.spec.Kind, w, err, ve, want, c.reason)
			}
		}
	}
}

func TestParseReportsEveryProblemOfAList(t *testing.T) {
	specs := []Spec{
		{Name: "below", Kind: Duration, Required: true, Doc: "the limit"},
		{Name: "phase", Kind: Word, Default: "all"},
		{Name: "stable", Kind: Whole, Default: "2", Check: func(v any) error {
			if v.(int64) < 1 {
				return errors.New("want at least 1")
			}
			return nil
		}},
	}
	_, err := Parse("p99", specs, map[string]any{"belw": "5ms", "stable": 0}, AssertionWording)
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		pe, ok := errors.AsType[*Error](e)
		if !ok || pe.Owner != "p99" {
			t.Fatalf("%v is not a *Error of p99", e)
		}
		got = append(got, e.Error())
		switch pe.Param {
		case "belw":
			if !pe.Unknown {
				t.Error("belw is not reported unknown")
			}
		case "below":
			if !pe.Missing {
				t.Error("below is not reported missing")
			}
		}
	}
	want := []string{
		`p99: unknown parameter "belw" (accepted: below, phase, stable; did you mean below?)`,
		"p99: stable: want at least 1",
		`p99: parameter "below" is required (the limit)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	v, err := Parse("", specs, map[string]any{"below": "5ms"}, StepWording)
	if err != nil || v.Value["below"] != 5*time.Millisecond || v.Value["phase"] != "all" || v.Value["stable"] != int64(2) || !v.Given["below"] || v.Given["phase"] {
		t.Errorf("defaults: got %+v, %v", v, err)
	}
	if _, err := Parse("", nil, map[string]any{"mode": "crash"}, StepWording); err == nil || err.Error() != `unknown parameter "mode" (this fault takes no parameters)` {
		t.Errorf("a list with no parameters: got %v", err)
	}
}
