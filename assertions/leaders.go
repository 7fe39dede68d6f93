package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"paylab/results"
)

// leaderChange is the end of one leadership as the lab saw it: the leader it had became none, or
// another node.
type leaderChange struct {
	at       time.Duration
	from, to string
}

// noLeader is how the lab records a moment without a ready leader.
const noLeader = "none"

// leaderChanges reads the leader events in time order and returns every leadership that ended. A
// leader that is lost and then elected again (a → none → a) is one change; a → none → b is one
// change too (the election that follows a loss is not another); a → b directly is one.
func leaderChanges(events []results.Event) (changes []leaderChange, seen bool) {
	es := make([]results.Event, 0, len(events))
	for _, e := range events {
		if e.Kind == results.EventLeader {
			es = append(es, e)
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].At < es[j].At })
	cur := ""
	for _, e := range es {
		next := e.Target
		if next == noLeader {
			next = ""
		}
		if cur != "" && next != cur {
			to := next
			if to == "" {
				to = noLeader
			}
			changes = append(changes, leaderChange{at: e.At, from: cur, to: to})
		}
		cur = next
	}
	return changes, len(es) > 0
}

func buildLeaderChanges(p *params) (checkFunc, error) {
	phase := p.text("phase")
	if err := validatePhase("leader_changes", phase); err != nil {
		return nil, err
	}
	atMost := p.count("at_most")
	return func(v *view) results.AssertionResult { return checkLeaderChanges(v, phase, atMost) }, nil
}

// checkLeaderChanges counts the leaderships that ended inside a phase: a few are what a fault
// on the leader costs, more are churn (leaders stepping down, split votes, a rejoining node
// disrupting the leader).
func checkLeaderChanges(v *view, phase string, atMost int) results.AssertionResult {
	changes, seen := leaderChanges(v.in.Events)
	if !seen {
		return undecided("leader_changes", fmt.Errorf("the run recorded no leader events"))
	}
	spans, err := v.resolvePhase(phase)
	if err != nil {
		return undecided("leader_changes", err)
	}
	end := v.end()
	names := make([]string, len(spans))
	var in []leaderChange
	for i, s := range spans {
		names[i] = fmt.Sprintf("%s (%s–%s)", s.name, at(s.from), at(s.to))
		for _, c := range changes {
			if c.at >= s.from && (c.at < s.to || s.to >= end && c.at == s.to) {
				in = append(in, c)
			}
		}
	}
	n := float64(len(in))
	res := results.AssertionResult{
		Verdict:  verdictOf(max(0, len(in)-atMost)),
		Limit:    fmt.Sprintf("≤ %d leadership changes", atMost),
		Phase:    strings.Join(capList(names, 3), ", "),
		Observed: fmt.Sprintf("%d leadership changes in %s", len(in), phase),
		Value:    &n,
	}
	if len(in) > 0 {
		lines := make([]string, 0, len(in)+1)
		lines = append(lines, fmt.Sprintf("leaderships that ended: %d", len(in)))
		for _, c := range in {
			lines = append(lines, fmt.Sprintf("  %s: %s → %s", at(c.at), c.from, c.to))
		}
		res.Evidence = capList(lines, MaxEvidence+1)
	}
	return res
}

func buildEventCount(p *params) (checkFunc, error) {
	phase := p.text("phase")
	if err := validatePhase("event_count", phase); err != nil {
		return nil, err
	}
	name, atLeast := p.text("name"), p.count("at_least")
	if name == "" {
		return nil, fmt.Errorf("event_count: name: empty")
	}
	return func(v *view) results.AssertionResult { return checkEventCount(v, phase, name, atLeast) }, nil
}

// checkEventCount proves that something a scenario relies on really happened (a snapshot installed on a
// lagging follower, say): a scenario that meant to exercise it and did not must not pass.
func checkEventCount(v *view, phase, name string, atLeast int) results.AssertionResult {
	spans, err := v.resolvePhase(phase)
	if err != nil {
		return undecided("event_count", err)
	}
	end := v.end()
	var hits []string
	for _, e := range v.in.Events {
		if e.Name != name {
			continue
		}
		for _, s := range spans {
			if e.At >= s.from && (e.At < s.to || s.to >= end) {
				hits = append(hits, fmt.Sprintf("%s: %s %s", at(e.At), e.Target, e.Detail))
				break
			}
		}
	}
	n := float64(len(hits))
	res := results.AssertionResult{
		Verdict:  verdictOf(max(0, atLeast-len(hits))),
		Limit:    fmt.Sprintf("≥ %d %q events", atLeast, name),
		Phase:    phase,
		Observed: fmt.Sprintf("%d %q events in %s", len(hits), name, phase),
		Value:    &n,
		Evidence: capList(hits, MaxEvidence),
	}
	return res
}
