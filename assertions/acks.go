package assertions

import (
	"fmt"
	"strings"

	"paylab/outcome"
	"paylab/results"
)

// checkNoLostAck holds the history against the replicas, payment by payment key (the ledger
// entries found are those that served the key, whatever their ledger transfer id):
//   - acknowledged committed (an OK outcome) → committed on every live replica, with the body
//     (from, to, amount) the client was acknowledged;
//   - acknowledged rejected, or failed every time (a definite "did not happen") → committed on
//     no replica, under no ledger id;
//   - acknowledged both ways → a contradiction in itself;
//   - unknown only → either way; how they resolved is reported.
func checkNoLostAck(v *view) results.AssertionResult {
	replicas, unreadable := v.readable()
	var live []*Replica
	for _, r := range replicas {
		if r.Live {
			live = append(live, r)
		}
	}
	// Every expected replica must be audited: one that is down, unreadable or absent may be the
	// one that lost an acknowledged commit.
	unaudited := unreadable
	for _, r := range replicas {
		if !r.Live {
			unaudited = append(unaudited, nodeName(r)+": down at the end of the run (not restarted)")
		}
	}
	lost := &violations{what: "acknowledged committed, not committed on a live replica"}
	phantom := &violations{what: "acknowledged rejected or definitely failed, yet committed"}
	both := &violations{what: "acknowledged both committed and rejected"}
	wrong := &violations{what: "acknowledged committed, but committed with another body"}
	var acked, rejected, failed, unknownCommitted, unknownRejected, unknownAbsent int
	hist := v.transfers()
	for _, id := range sortedIDs(hist) {
		s := hist[id]
		switch {
		case s.kinds[outcome.OK] > 0 && s.kinds[outcome.Rejected] > 0:
			both.add(fmt.Sprintf("%s: committed by %s, rejected (%s) by %s", id, opText(s.firstOK), s.reason, opText(s.firstRej)), 1)
		case s.kinds[outcome.OK] > 0:
			acked++
			var missing, other []string
			for _, r := range live {
				committed := v.committedFor(r, id)
				var right, wrongBody []Transfer
				for _, t := range committed {
					if s.sameBody(t) {
						right = append(right, t)
					} else {
						wrongBody = append(wrongBody, t)
					}
				}
				if len(wrongBody) > 0 {
					other = append(other, fmt.Sprintf("%s: %s", nodeName(r), entriesText(wrongBody)))
				}
				if len(right) > 0 || len(wrongBody) > 0 || v.blindWritten(r, id) {
					continue // a naive-mode payment is applied by blind writes, not a transfer
				}
				entries := v.entriesFor(r, id)
				if len(entries) == 0 {
					missing = append(missing, nodeName(r)+" (absent)")
				} else {
					t := entries[0]
					missing = append(missing, fmt.Sprintf("%s (%s %s)", nodeName(r), t.Status, t.Reason))
				}
			}
			if len(other) > 0 {
				wrong.add(fmt.Sprintf("%s acknowledged %s by %s; committed %s", id, s.body(), opText(s.firstOK), strings.Join(capList(other, 3), "; ")), float64(len(other)))
			}
			if len(missing) > 0 {
				lost.add(fmt.Sprintf("%s (%s→%s %d) acknowledged by %s; missing on %s",
					id, s.from, s.to, s.amount, opText(s.firstOK), strings.Join(capList(missing, 3), ", ")), float64(len(missing)))
			}
		case s.kinds[outcome.Rejected] > 0 || s.kinds[outcome.Failed] == s.count():
			what := "failed every time (" + opText(s.first) + ")"
			if s.kinds[outcome.Rejected] > 0 {
				rejected++
				what = fmt.Sprintf("rejected (%s) by %s", s.reason, opText(s.firstRej))
			} else {
				failed++
			}
			var on []string
			for _, r := range replicas {
				if committed := v.committedFor(r, id); len(committed) > 0 {
					on = append(on, fmt.Sprintf("%s as %s", nodeName(r), entriesText(committed)))
				}
			}
			if len(on) > 0 {
				phantom.add(fmt.Sprintf("%s (%s→%s %d) %s; committed on %s", id, s.from, s.to, s.amount, what, strings.Join(capList(on, 3), ", ")), float64(len(on)))
			}
		default: // unknown only: judge by the first live replica (replicas_converge compares them)
			var r *Replica
			if len(live) > 0 {
				r = live[0]
			} else if len(replicas) > 0 {
				r = replicas[0]
			}
			if r == nil {
				continue
			}
			switch {
			case len(v.committedFor(r, id)) > 0:
				unknownCommitted++
			case len(v.entriesFor(r, id)) == 0:
				unknownAbsent++
			default:
				unknownRejected++
			}
		}
	}
	res := results.AssertionResult{
		Verdict: verdictOf(lost.count + wrong.count + phantom.count + both.count),
		Observed: fmt.Sprintf("%d of %d acknowledged commits missing, %d committed with another body, %d of %d rejected or failed committed, %d contradictory acks; unknown outcomes: %d committed, %d rejected, %d absent",
			lost.count, acked, wrong.count, phantom.count, rejected+failed, both.count, unknownCommitted, unknownRejected, unknownAbsent),
		Limit:    fmt.Sprintf("every acknowledged commit on all %d live replicas with the acknowledged body; no rejected or failed payment committed under any ledger id", len(live)),
		Evidence: evidenceOf(lost, wrong, both, phantom),
	}
	if v.dropped > 0 {
		res.Evidence = append(res.Evidence, fmt.Sprintf("note: the history dropped %d operations; they were not checked", v.dropped))
	}
	if len(live) == 0 && res.Verdict == results.Pass && acked > 0 {
		res.Verdict, res.Error = results.Undecided, "no live replica was readable, so acknowledged commits could not be checked"
		return res
	}
	if len(unaudited) > 0 && res.Verdict == results.Pass {
		res.Verdict = results.Undecided
		res.Error = fmt.Sprintf("%d replicas could not be audited: %s", len(unaudited), strings.Join(capList(unaudited, 3), "; "))
	}
	return res
}
