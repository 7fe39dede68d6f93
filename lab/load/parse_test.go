package load

import (
	"paylab/outcome"
	"testing"
	"time"
)

func TestParseMixRampAndSteps(t *testing.T) {
	m, err := ParseMix("transfer=0.9, read=0.08,stale_read=0.02")
	if err != nil || m != (Mix{Transfer: 0.9, Read: 0.08, StaleRead: 0.02}) {
		t.Errorf("ParseMix: %+v, %v", m, err)
	}
	for _, bad := range []string{"transfer", "transfer=-1", "refund=1"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
	r, err := ParseRamp("100:1000", 10*time.Second)
	if err != nil || r != (LinearPacer{Start: 100, End: 1000, Over: 10 * time.Second}) {
		t.Errorf("ParseRamp: %+v, %v", r, err)
	}
	for _, bad := range []string{"100", "a:b", "0:0", "-1:5"} {
		if _, err := ParseRamp(bad, time.Second); err == nil {
			t.Errorf("ParseRamp(%q) accepted", bad)
		}
	}
	s, err := ParseSteps("100:5s, 1000:10s")
	if err != nil || len(s.Steps) != 2 || s.Steps[1] != (Step{Rate: 1000, For: 10 * time.Second}) {
		t.Errorf("ParseSteps: %+v, %v", s, err)
	}
	for _, bad := range []string{"fast", "100:0s", "100:5s,"} {
		if _, err := ParseSteps(bad); err == nil {
			t.Errorf("ParseSteps(%q) accepted", bad)
		}
	}
}

func TestHTTPOutcomeByStatus(t *testing.T) {
	for code, want := range map[int]outcome.Kind{200: outcome.OK, 204: outcome.OK, 404: outcome.Rejected, 429: outcome.Rejected, 500: outcome.Failed, 503: outcome.Failed} {
		if got := httpOutcome(code).Kind; got != want {
			t.Errorf("status %d: %v, want %v", code, got, want)
		}
	}
	if _, _, err := (HTTPTarget{Method: "GET", URL: "ftp://x"}).Op(); err == nil {
		t.Error("an ftp URL was accepted")
	}
}
