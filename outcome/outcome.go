// Package outcome holds the one vocabulary for how an operation ended as its caller saw it:
// ok, rejected, failed or unknown. The ledger client answers in it, the gateway counts its
// ledger calls by it, the load generator and the history record it, and the checkers read it.
// It imports nothing of paylab's, so every layer may use it.
package outcome

import "fmt"

// Kind is the outcome of one operation as the client saw it.
type Kind uint8

// The four outcomes of an operation. Unknown is not an error class: a request that timed out
// may or may not have taken effect, and the checkers must treat it as both.
const (
	// OK: the target acknowledged the operation (a transfer committed — or, for a duplicate,
	// had committed before — a read answered).
	OK Kind = iota
	// Rejected: the target answered with a definite, business-level refusal (insufficient
	// funds, duplicate with a different body, rate limited); nothing took effect.
	Rejected
	// Failed: the operation definitely did not take effect (bad input, connection refused,
	// no leader reachable before sending, 4xx/5xx before any write).
	Failed
	// Unknown: no definite answer (timeout, connection reset after the request was written);
	// a retry with the same id settles it.
	Unknown
	// NumKinds is the number of kinds, for arrays indexed by Kind; keep last.
	NumKinds
)

var names = [NumKinds]string{"ok", "rejected", "failed", "unknown"}

// String returns the lower-case name used in files, metrics and reports.
func (k Kind) String() string {
	if k < NumKinds {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the four defined kinds.
func (k Kind) Valid() bool { return k < NumKinds }

// Parse is the inverse of Kind.String.
func Parse(s string) (Kind, error) {
	for i, n := range names {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("parse outcome kind %q: want one of ok, rejected, failed, unknown", s)
}

// MarshalText implements encoding.TextMarshaler so kinds read as words in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}
