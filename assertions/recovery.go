package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"paylab/results"
)

// maxTrace bounds the windows quoted in a recovery's evidence.
const maxTrace = 8

func buildRecovery(p *params) (checkFunc, error) {
	rc := recovery{
		below:  p.duration("below"),
		heal:   p.text("from") == "heal",
		fault:  p.text("fault"),
		ratio:  p.fraction("ratio"),
		stable: p.count("stable"),
	}
	if rc.stable < 1 {
		return nil, fmt.Errorf("recovery_time: stable: %d, want at least 1 window", rc.stable)
	}
	return rc.check, nil
}

// recovery measures, for each fault, the time from its start (or heal) to the first of
// `stable` consecutive windows in which successes (OK and business rejections: the system
// answered) are at least `ratio` of the requests offered in that window. Windows are keyed by
// intended send time, so requests that stalled count against the window they were due in.
type recovery struct {
	below  time.Duration
	heal   bool
	fault  string
	ratio  float64
	stable int
}

func (rc recovery) good(w results.Figures) (bool, float64) {
	if w.Requests == 0 {
		return false, 0 // no answer at all is not a recovery
	}
	r := float64(w.OK+w.Rejected) / float64(w.Requests)
	return r >= rc.ratio, r
}

func (rc recovery) check(v *view) results.AssertionResult {
	ws := append([]results.Figures(nil), v.in.Windows...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Start < ws[j].Start })
	from := "start"
	if rc.heal {
		from = "heal"
	}
	res := results.AssertionResult{Limit: fmt.Sprintf("< %s from each fault's %s to %d windows at ≥ %s success", rc.below, from, rc.stable, pct(rc.ratio))}
	if len(ws) == 0 {
		return undecided("recovery_time", fmt.Errorf("the run recorded no one-second windows"))
	}
	slow := &violations{what: "faults not recovered within the limit"}
	var measured []string
	worst := time.Duration(-1)
	faults := 0
	for _, f := range v.faults() {
		if rc.fault != "" && !matchesFault(f, rc.fault) {
			continue
		}
		faults++
		t0 := f.At
		if rc.heal {
			if f.Until <= f.At {
				slow.add(fmt.Sprintf("%s at %s: never healed, so no recovery from heal to measure", f.Label(), at(f.At)), float64(v.end()))
				continue
			}
			t0 = f.Until
		}
		took, trace, ok := rc.recoveredAfter(ws, t0)
		if ok {
			v.judging(t0, t0+took+time.Duration(rc.stable)*(ws[0].End-ws[0].Start))
		} else {
			v.judging(t0, v.end())
		}
		label := fmt.Sprintf("%s %s at %s", f.Label(), from, at(t0))
		if !ok {
			slow.add(fmt.Sprintf("%s: not recovered by the end of the run (%s); %s", label, at(ws[len(ws)-1].End), trace), float64(v.end()-t0))
			worst = max(worst, v.end()-t0)
			continue
		}
		worst = max(worst, took)
		measured = append(measured, fmt.Sprintf("%s: %s", label, took))
		if took >= rc.below {
			slow.add(fmt.Sprintf("%s: recovered after %s; %s", label, took, trace), float64(took))
		}
	}
	if faults == 0 {
		what := "the run had no faults"
		if rc.fault != "" {
			what = fmt.Sprintf("the run had no fault named %q (faults: %s)", rc.fault, faultNames(v.faults()))
		}
		return undecided("recovery_time", fmt.Errorf("nothing to recover from: %s", what))
	}
	res.Verdict = verdictOf(slow.count)
	res.Observed = fmt.Sprintf("worst %s over %d faults", worst, faults)
	if slow.count > 0 && len(measured) < faults {
		res.Observed = fmt.Sprintf("%d of %d faults not recovered", faults-len(measured), faults)
	} else {
		secs := worst.Seconds()
		res.Value = &secs
	}
	res.Evidence = append(slow.lines(), capList(measured, MaxEvidence)...)
	return res
}

// recoveredAfter finds the first run of rc.stable consecutive good windows from the window
// holding t0, and returns how long after t0 the run began, with a trace of the success ratio
// per window for the evidence.
func (rc recovery) recoveredAfter(ws []results.Figures, t0 time.Duration) (time.Duration, string, bool) {
	var trace []string
	run, runStart := 0, time.Duration(0)
	for i, w := range ws {
		if w.End <= t0 {
			continue
		}
		ok, r := rc.good(w)
		if len(trace) < maxTrace {
			trace = append(trace, fmt.Sprintf("%s %s", at(w.Start), pct(r)))
		}
		contiguous := i > 0 && ws[i-1].End == w.Start
		switch {
		case !ok:
			run = 0
		case run == 0 || !contiguous:
			run, runStart = 1, w.Start
		default:
			run++
		}
		if run >= rc.stable {
			return max(runStart-t0, 0), "success per window: " + strings.Join(trace, ", "), true
		}
	}
	return 0, "success per window: " + strings.Join(trace, ", "), false
}

func buildFailover(p *params) (checkFunc, error) {
	below := p.duration("below")
	return func(v *view) results.AssertionResult { return checkFailover(v, below) }, nil
}

// leaderLoss is a moment the ledger lost its leader, and how we know.
type leaderLoss struct {
	at     time.Duration
	leader string
	cause  string
}

// leaderLosses reads the events in time order. A loss is a leader event with no leader, a
// fault aimed at the current leader (by node id, zone or region) or at "the leader" by name
// (leader-kill, leader-isolation), or, failing any of these, a change of leader (measured from
// the change, since its cause was not recorded). One loss is counted per leadership.
func leaderLosses(events []results.Event) []leaderLoss {
	es := append([]results.Event(nil), events...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].At < es[j].At })
	var out []leaderLoss
	leader, lost := "", false
	for _, e := range es {
		switch e.Kind {
		case results.EventLeader:
			switch {
			case e.Target == "":
				if leader != "" && !lost {
					out = append(out, leaderLoss{at: e.At, leader: leader, cause: "no leader"})
				}
				lost = true
				continue
			case leader != "" && e.Target != leader && !lost:
				out = append(out, leaderLoss{at: e.At, leader: leader, cause: "leader changed to " + e.Target + " (cause not recorded; measured from the change)"})
			}
			leader, lost = e.Target, false
		case results.EventFault:
			if lost || leader == "" && !strings.Contains(e.Name, "leader") {
				continue
			}
			if strings.Contains(e.Name, "leader") || hitsNode(e.Target, leader) {
				out = append(out, leaderLoss{at: e.At, leader: leader, cause: "fault " + e.Label()})
				lost = true
			}
		}
	}
	return out
}

// hitsNode reports whether a fault target covers a node: the node's id, its zone
// ("us-east/a" for "ledger:us-east/a") or its region ("us-east").
func hitsNode(target, node string) bool {
	if target == "" || node == "" {
		return false
	}
	place := node
	if _, p, ok := strings.Cut(node, ":"); ok {
		place = p
	}
	return target == node || target == place || strings.HasPrefix(place, target+"/")
}

// checkFailover measures each leader loss until the first transfer sent after it that
// committed: sent after, so that it cannot have been committed by the old leader.
func checkFailover(v *view, below time.Duration) results.AssertionResult {
	res := results.AssertionResult{Limit: "< " + below.String() + " from leader loss to the next commit"}
	losses := leaderLosses(v.in.Events)
	if len(losses) == 0 {
		return undecided("failover_time", fmt.Errorf("no leader loss in the run (no leader events without a leader, no fault on the leader)"))
	}
	commits := make([]*results.Op, 0, len(v.ops))
	for i := range v.ops {
		if op := &v.ops[i]; op.Type == results.OpTransfer && op.Kind == results.OK {
			commits = append(commits, op)
		}
	}
	sort.Slice(commits, func(i, j int) bool { return commits[i].Sent < commits[j].Sent })
	slow := &violations{what: "leader losses not followed by a commit within the limit"}
	var measured []string
	worst := time.Duration(-1)
	for _, l := range losses {
		i := sort.Search(len(commits), func(i int) bool { return commits[i].Sent >= l.at })
		var next *results.Op
		for ; i < len(commits); i++ { // the earliest completion among commits sent after the loss
			if next == nil || commits[i].Done < next.Done {
				next = commits[i]
			}
			if commits[i].Sent > next.Done {
				break
			}
		}
		label := fmt.Sprintf("leader %s lost at %s (%s)", l.leader, at(l.at), l.cause)
		if next == nil {
			v.judging(l.at, v.end())
			slow.add(label+": no transfer sent after it committed", float64(v.end()-l.at))
			worst = max(worst, v.end()-l.at)
			continue
		}
		took := next.Done - l.at
		v.judging(l.at, next.Done)
		worst = max(worst, took)
		text := fmt.Sprintf("%s: next commit after %s, %s", label, took, opText(next))
		measured = append(measured, text)
		if took >= below {
			slow.add(text, float64(took))
		}
	}
	res.Verdict = verdictOf(slow.count)
	res.Observed = fmt.Sprintf("worst %s over %d leader losses", worst, len(losses))
	secs := worst.Seconds()
	res.Value = &secs
	res.Evidence = append(slow.lines(), capList(measured, MaxEvidence)...)
	return res
}
