package results

import (
	"strings"
	"testing"
	"time"
)

// Every kind of event the lab records reads as words: node ids spelled out, breaker changes as
// verbs with their cause, and no Go values — also for breaker events recorded before
// BreakerEvent existed, as the raw BreakerTransition struct.
func TestEveryEventIsDescribedInWords(t *testing.T) {
	for _, c := range []struct {
		e    Event
		want string
	}{
		// faults/timeline.go: a fault window
		{Event{Kind: EventFault, Name: "zone-down", Target: "us-east/a", Detail: "crashed ledger:us-east/a"}, "fault zone-down us-east/a: crashed ledger us-east/a"},
		// lab/lab.go: leader changes
		{Event{Kind: EventLeader, Name: "leader", Target: "ledger:us-east/b"}, "ledger leader is now us-east/b"},
		{Event{Kind: EventLeader, Name: "leader", Target: "none"}, "the ledger has no leader"},
		// lab/gateways.go: DNS health changes and breaker transitions
		{Event{Kind: EventDNS, Name: "dns", Target: "us-east", Detail: "out of pay.lab (503 Service Unavailable)"}, "DNS: us-east out of pay.lab (503 Service Unavailable)"},
		{Event{Kind: EventDNS, Name: "dns", Target: "eu-west",
			Detail: `out of pay.lab (Get "http://127.0.1.2:41611/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers))`},
			"DNS: eu-west out of pay.lab (health check timed out)"},
		{BreakerEvent(time.Second, "gateway:us-east/a", "closed", "open", "5 consecutive failures"), "gateway us-east/a breaker opened after 5 consecutive failures"},
		{BreakerEvent(time.Second, "gateway:us-east/a", "open", "half-open", "cool-down of 500ms over"), "gateway us-east/a breaker half-open (cool-down of 500ms over)"},
		{BreakerEvent(time.Second, "gateway:us-east/a", "half-open", "open", "a half-open probe failed"), "gateway us-east/a breaker reopened after a half-open probe failed"},
		{BreakerEvent(time.Second, "gateway:us-east/a", "half-open", "closed", "2 successful probes"), "gateway us-east/a breaker closed after 2 successful probes"},
		// what runs before BreakerEvent recorded (issue 9)
		{Event{Kind: EventNote, Name: "breaker", Target: "gateway:us-east/a",
			Detail: "{closed open 2026-11-29 16:13:26.70590752 +0000 UTC m=+10.544833941 5 consecutive failures}"},
			"gateway us-east/a breaker opened after 5 consecutive failures"},
		// faults/process.go: notes of a rolling restart
		{Event{Kind: EventNote, Name: "rolling-restart", Target: "us-east", Detail: "restarted ledger:us-east/a"}, "rolling-restart us-east: restarted ledger us-east/a"},
	} {
		if got := c.e.Describe(); got != c.want {
			t.Errorf("%+v\n  described as %q\n  want        %q", c.e, got, c.want)
		}
	}
}

// Label stays the short name phases and assertions know fault windows by.
func TestLabelNamesAFaultWindow(t *testing.T) {
	e := Event{Kind: EventFault, Name: "zone-down", Target: "us-east/a", Detail: "crashed ledger:us-east/a"}
	if e.Label() != "zone-down us-east/a" {
		t.Errorf("Label() = %q", e.Label())
	}
	if e := BreakerEvent(time.Second, "gateway:eu-west/b", "closed", "open", "5 consecutive failures"); e.Kind != EventBreaker ||
		e.At != time.Second || e.Target != "gateway:eu-west/b" || !strings.Contains(e.Detail, "closed → open") {
		t.Errorf("BreakerEvent = %+v", e)
	}
}

func TestGroupLabelsSayHowManyAndWhen(t *testing.T) {
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	for _, c := range []struct {
		kind     EventKind
		n        int
		from, to time.Duration
		want     string
	}{
		{EventLeader, 3, s(14), s(20), "leader changed 3× in 14–20 s"},
		{EventBreaker, 12, s(6.3), s(7.5), "breakers changed 12× in 6.3–7.5 s"},
		{EventDNS, 2, s(8), s(8.04), "DNS changed 2× in 8 s"},
	} {
		if got := groupLabel(c.kind, c.n, c.from, c.to); got != c.want {
			t.Errorf("groupLabel = %q, want %q", got, c.want)
		}
	}
}

func TestSizesPrintInBinaryUnits(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 612 << 20: "612 MiB", 3 << 29: "1.5 GiB", 2048: "2.0 KiB"} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
