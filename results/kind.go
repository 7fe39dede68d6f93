package results

import "fmt"

// Kind is the outcome of one operation as the client saw it.
type Kind uint8

// The four outcomes of an operation. Unknown is not an error class: a request that timed out
// may or may not have taken effect, and the checkers must treat it as both.
const (
	// OK: the target acknowledged the operation (a transfer committed, a read answered).
	OK Kind = iota
	// Rejected: the target answered with a definite, business-level refusal (insufficient
	// funds, duplicate with a different body, rate limited); nothing took effect.
	Rejected
	// Failed: the operation definitely did not take effect (connection refused, 4xx/5xx
	// before any write, not-leader).
	Failed
	// Unknown: no definite answer (timeout, connection reset after the request was written).
	Unknown
	// numKinds is the number of kinds; keep last.
	numKinds
)

var kindNames = [numKinds]string{"ok", "rejected", "failed", "unknown"}

// String returns the lower-case name used in files and reports.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the four defined kinds.
func (k Kind) Valid() bool { return k < numKinds }

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("parse outcome kind %q: want one of ok, rejected, failed, unknown", s)
}

// Verdict is the three-state result of a check or a run, after Jepsen: a checker that could
// not decide says Unknown rather than passing.
type Verdict string

// The verdicts. Combine ranks them Fail > Unknown > Pass.
const (
	Pass      Verdict = "pass"
	Fail      Verdict = "fail"
	Undecided Verdict = "unknown"
)

// Combine returns the worse of two verdicts: fail beats unknown beats pass. The empty verdict
// is neutral, so Combine can fold over a list starting from "".
func Combine(a, b Verdict) Verdict {
	rank := func(v Verdict) int {
		switch v {
		case Fail:
			return 3
		case Undecided:
			return 2
		case Pass:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// MarshalText implements encoding.TextMarshaler so kinds read as words in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}
