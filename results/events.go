package results

import (
	"fmt"
	"strings"
	"time"
)

// BreakerEvent is the event of a gateway's circuit breaker changing state: gateway is the
// gateway's node id, from and to the states' names ("closed", "open", "half-open") and reason
// what caused it ("5 consecutive failures"). Describe words it as "gateway us-east/a breaker
// opened after 5 consecutive failures".
func BreakerEvent(at time.Duration, gateway, from, to, reason string) Event {
	d := from + " → " + to
	if reason != "" {
		d += ": " + reason
	}
	return Event{At: at, Kind: EventBreaker, Name: "breaker", Target: gateway, Detail: d}
}

// Describe says what happened in words a person reads at a glance, with node ids spelled
// out and no Go values: "gateway us-east/a breaker opened after 5 consecutive failures",
// "ledger leader is now us-east/b", "DNS: us-east out of pay.lab (503)".
func (e Event) Describe() string {
	var s string
	switch e.lane() {
	case EventFault:
		s = "fault " + e.Label()
		if e.Detail != "" {
			s += ": " + e.Detail
		}
	case EventLeader:
		if leaderless(e) {
			s = "the ledger has no leader"
		} else {
			s = "ledger leader is now " + strings.TrimPrefix(e.Target, "ledger:")
		}
		if e.Detail != "" {
			s += " (" + e.Detail + ")"
		}
	case EventDNS:
		s = "DNS: " + strings.TrimSpace(e.Target+" "+probeReason(e.Detail))
	case EventBreaker:
		from, to, reason := breakerChange(e.Detail)
		s = "gateway " + strings.TrimPrefix(e.Target, "gateway:") + " breaker " + breakerVerb(from, to)
		switch {
		case reason == "":
		case strings.HasPrefix(reason, "cool-down"):
			s += " (" + reason + ")"
		default:
			s += " after " + reason
		}
	default:
		s = e.Label()
		if e.Detail != "" {
			s += ": " + e.Detail
		}
	}
	return nodeNames.Replace(s)
}

// nodeNames spells node ids ("ledger:us-east/a") as words.
var nodeNames = strings.NewReplacer("ledger:", "ledger ", "gateway:", "gateway ", "redis:", "redis ", "client:", "client ")

// lane is the kind an event is drawn and worded as. Breaker events recorded before
// EventBreaker existed were notes named "breaker".
func (e Event) lane() EventKind {
	if e.Name == "breaker" && e.Kind == EventNote {
		return EventBreaker
	}
	switch e.Kind {
	case EventFault, EventLeader, EventDNS, EventBreaker:
		return e.Kind
	}
	return EventNote
}

// probeReason shortens the Go HTTP client's error in a DNS event's detail, "out of pay.lab (Get
// \"http://127.0.1.1:41611/healthz\": context deadline exceeded (Client.Timeout exceeded while
// awaiting headers))", to what happened: "out of pay.lab (health check timed out)".
func probeReason(detail string) string {
	head, reason, ok := strings.Cut(detail, " (")
	if !ok {
		return detail
	}
	switch {
	case strings.Contains(reason, "Client.Timeout") || strings.Contains(reason, "deadline exceeded"):
		reason = "health check timed out"
	case strings.Contains(reason, "connection refused"):
		reason = "health check refused"
	case strings.Contains(reason, "connection reset"):
		reason = "health check connection reset"
	default:
		return detail
	}
	return head + " (" + reason + ")"
}

func leaderless(e Event) bool { return e.Target == "" || e.Target == "none" }

// breakerChange reads a breaker event's detail: "closed → open: 5 consecutive failures" as
// BreakerEvent writes it, or the Go value older runs recorded, "{closed open 2026-11-29
// 16:13:26.70590752 +0000 UTC m=+10.544833941 5 consecutive failures}".
func breakerChange(detail string) (from, to, reason string) {
	if states, reason, ok := strings.Cut(detail, " → "); ok {
		to, reason, _ = strings.Cut(reason, ": ")
		return states, to, reason
	}
	f := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(detail, "{"), "}"))
	if len(f) < 2 {
		return "", "", detail
	}
	from, to, rest := f[0], f[1], f[2:]
	// Skip the time.Time: date, clock, zone offset, zone name and the monotonic reading.
	for len(rest) > 0 && (strings.ContainsAny(rest[0], ":+") || isDate(rest[0]) || rest[0] == "UTC" || strings.HasPrefix(rest[0], "m=")) {
		rest = rest[1:]
	}
	return from, to, strings.Join(rest, " ")
}

func isDate(s string) bool {
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

// breakerVerb words a breaker's change of state.
func breakerVerb(from, to string) string {
	switch {
	case to == "open" && from == "half-open":
		return "reopened"
	case to == "open":
		return "opened"
	case to == "closed":
		return "closed"
	case to == "half-open":
		return "half-open"
	case to == "":
		return "changed"
	}
	return "now " + to
}

// short is the text of one event in its lane of the report's event strip, where the lane
// already says what kind of event it is: "zone-down us-east/a", "→ us-east/b", "us-east out".
func (e Event) short() string {
	switch e.lane() {
	case EventFault:
		return e.Label()
	case EventLeader:
		if leaderless(e) {
			return "no leader"
		}
		return "→ " + strings.TrimPrefix(e.Target, "ledger:")
	case EventDNS:
		switch {
		case strings.HasPrefix(e.Detail, "out"):
			return e.Target + " out"
		case strings.HasPrefix(e.Detail, "back"):
			return e.Target + " back in"
		}
		return e.Target
	case EventBreaker:
		_, to, _ := breakerChange(e.Detail)
		return strings.TrimPrefix(e.Target, "gateway:") + " " + to
	}
	if e.Detail != "" { // a note's detail says what happened: "restarted gateway:eu-west/a"
		return nodeNames.Replace(e.Detail)
	}
	return nodeNames.Replace(e.Label())
}

// groupLabel is the text of several close events of one lane drawn as one mark:
// "leader changed 3× in 14–20 s".
func groupLabel(kind EventKind, n int, from, to time.Duration) string {
	what := map[EventKind]string{
		EventLeader:  "leader changed",
		EventDNS:     "DNS changed",
		EventBreaker: "breakers changed",
	}[kind]
	if what == "" {
		what = "notes:"
	}
	return fmt.Sprintf("%s %d× in %s", what, n, secondsSpan(from, to))
}

// secondsSpan prints a span of a run as "14–20 s", with tenths where they matter.
func secondsSpan(from, to time.Duration) string {
	a, b := trimSeconds(from), trimSeconds(to)
	if a == b {
		return a + " s"
	}
	return a + "–" + b + " s"
}

func trimSeconds(d time.Duration) string {
	return strings.TrimSuffix(fmtSeconds(d), "s")
}
