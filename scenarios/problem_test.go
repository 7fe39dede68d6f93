package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// Every problem of a file, whichever check found it, is one Problem: errors.As finds it in the file's
// *Error, and it formats itself as "file:line:col: path: message".
func TestProblemsAreOneErrorsAsAbleType(t *testing.T) {
	_, _, err := Parse("t.yaml", []byte(strings.Replace(base, "duration: 10s\n", "duration: 10s\nwarmp: 1s\n", 1)))
	var perr *Error
	if !errors.As(err, &perr) || len(perr.Problems) != 1 {
		t.Fatalf("Parse: %v; want one problem in a *Error", err)
	}
	var p Problem
	if !errors.As(err, &p) {
		t.Fatalf("errors.As finds no Problem in %v", err)
	}
	if p.File != "t.yaml" || p.Line != 3 || p.Col != 1 || p.Path != "warmp" || p.Error() != err.Error() {
		t.Errorf("problem %+v (%q); want t.yaml:3:1 at warmp, formatted as the file's error %q", p, p.Error(), err.Error())
	}

	_, pos, err := Parse("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	err = pos.Errorf("duration", "too short for %s", "a failover")
	if !errors.As(err, &p) || p.Line != 2 || p.Col != 11 || err.Error() != "t.yaml:2:11: duration: too short for a failover" {
		t.Errorf("Positions.Errorf: %v (%+v)", err, p)
	}
	if got := pos.Of("duration"); got != "t.yaml:2:11" {
		t.Errorf("Of(duration) = %q", got)
	}
	if got := pos.Of("timeline[0].at"); got != "t.yaml:1:1" {
		t.Errorf("Of of a path the file does not write = %q, want the file's start", got)
	}
}
