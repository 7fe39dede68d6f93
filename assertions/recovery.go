package assertions

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"paylab/outcome"
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

// recovery measures, for each fault, the time from its start (or heal) to the start of the last
// stretch of good windows that lasts until the next fault starts or the run ends — the system
// is recovered once it stays recovered, so a brief recovery followed by a longer outage is
// measured to the end of that outage (issue 10, item 6). A good window is one in which
// successes (OK and business rejections: the system answered) are at least `ratio` of the
// requests offered in it; the final stretch must hold at least `stable` windows. A fault whose
// windows never dipped has "no impact" (0 s). Windows are keyed by intended send time, so
// requests that stalled count against the window they were due in.
//
// The rule follows the usual reading of recovery time objectives: service is restored when it
// is restored for good, not at its first good second.
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

// recoveryOutcome is what recoveredBy found for one fault.
type recoveryOutcome int

const (
	noImpact     recoveryOutcome = iota // every window from t0 to the horizon was good
	recovered                           // good from a point on, for at least `stable` windows, up to the horizon
	notRecovered                        // the horizon came first
	noWindows                           // no whole window between t0 and the horizon
)

func (rc recovery) check(v *view) results.AssertionResult {
	ws := recoveryWindows(v)
	if len(ws) == 0 {
		return undecided("recovery_time", fmt.Errorf("the run recorded no one-second windows with requests"))
	}
	t := &recoveryTally{rc: rc, v: v, ws: ws, window: ws[0].End - ws[0].Start, worst: -1,
		slow: &violations{what: "faults not recovered within the limit"}}
	all := v.faults()
	for _, f := range all {
		if rc.fault != "" && !matchesFault(f, rc.fault) {
			continue
		}
		t.faults++
		t0 := f.At
		if rc.heal {
			if f.Until <= f.At {
				t.slow.add(fmt.Sprintf("%s at %s: never healed, so no recovery from heal to measure", f.Label(), at(f.At)), float64(v.end()))
				t.unmeasured++
				continue
			}
			t0 = f.Until
		}
		t.judge(f, t0, all)
	}
	if t.faults == 0 {
		what := "the run had no faults"
		if rc.fault != "" {
			what = fmt.Sprintf("the run had no fault named %q (faults: %s)", rc.fault, faultNames(all))
		}
		return undecided("recovery_time", fmt.Errorf("nothing to recover from: %s", what))
	}
	return t.result()
}

// recoveryWindows is the run's windows in time order. Empty windows after the last request are no
// evidence when the lab was healthy in them (the load had ended); empty and saturated, the generator
// stalled behind a collapse, and they stay, bad, for the lab-health rule to judge.
func recoveryWindows(v *view) []results.Figures {
	ws := append([]results.Figures(nil), v.in.Windows...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Start < ws[j].Start })
	for len(ws) > 0 && ws[len(ws)-1].Requests == 0 && (ws[len(ws)-1].Health == nil || ws[len(ws)-1].Health.Saturated == 0) {
		ws = ws[:len(ws)-1]
	}
	return ws
}

// recoveryTally is recovery_time's findings over the faults it measures.
type recoveryTally struct {
	rc     recovery
	v      *view
	ws     []results.Figures
	window time.Duration

	slow                      *violations
	measured, undecidedFaults []string
	worst                     time.Duration
	faults, unmeasured, calm  int
}

func (rc recovery) from() string {
	if rc.heal {
		return "heal"
	}
	return "start"
}

// nextFault is the horizon of a fault measured from t0: the next fault to start after t0 (its impact
// is its own), or -1 for the end of the run, with the words that name it.
func nextFault(all []results.Event, t0 time.Duration) (horizon time.Duration, until string) {
	for _, g := range all {
		if g.At > t0 {
			return g.At, fmt.Sprintf("the next fault, %s at %s", g.Label(), at(g.At))
		}
	}
	return -1, "the end of the run"
}

// judge measures fault f's recovery from t0 up to its horizon.
func (t *recoveryTally) judge(f results.Event, t0 time.Duration, all []results.Event) {
	rc, v := t.rc, t.v
	horizon, until := nextFault(all, t0)
	label := fmt.Sprintf("%s %s at %s", f.Label(), rc.from(), at(t0))
	outcome, took, trace := rc.recoveredBy(t.ws, t0, horizon)
	switch outcome {
	case noImpact:
		v.judging(t0, t0+time.Duration(rc.stable)*t.window)
		t.calm++
		t.worst = max(t.worst, 0)
		t.measured = append(t.measured, fmt.Sprintf("%s: no impact (every window up to %s at ≥ %s success)", label, until, pct(rc.ratio)))
	case recovered:
		v.judging(t0, t0+took+time.Duration(rc.stable)*t.window)
		t.worst = max(t.worst, took)
		t.measured = append(t.measured, fmt.Sprintf("%s: %s", label, took))
		if took >= rc.below {
			t.slow.add(fmt.Sprintf("%s: recovered after %s, for good until %s; %s", label, took, until, trace), float64(took))
		}
	case notRecovered:
		t.notRecovered(label, t0, horizon, until, trace)
	case noWindows:
		t.unmeasured++
		t.undecidedFaults = append(t.undecidedFaults, fmt.Sprintf("%s: no whole window before %s to judge", label, until))
	}
}

// notRecovered: the horizon came before a lasting recovery. It fails when the run ended first or the
// limit ran out before the next fault; otherwise the next fault struck too early to judge.
func (t *recoveryTally) notRecovered(label string, t0, horizon time.Duration, next, trace string) {
	end := t.v.end()
	if horizon >= 0 {
		end = horizon
	}
	t.v.judging(t0, end)
	t.unmeasured++
	t.worst = max(t.worst, end-t0)
	switch {
	case horizon < 0:
		t.slow.add(fmt.Sprintf("%s: not recovered by the end of the run (%s); %s", label, at(t.ws[len(t.ws)-1].End), trace), float64(end-t0))
	case end-t0 >= t.rc.below:
		t.slow.add(fmt.Sprintf("%s: not recovered within %s, before %s; %s", label, end-t0, next, trace), float64(end-t0))
	default:
		t.undecidedFaults = append(t.undecidedFaults, fmt.Sprintf("%s: %s struck %s later, before the limit ran out, and before a recovery; %s", label, next, end-t0, trace))
	}
}

// result is the verdict over every measured fault; faults the next one cut short make a clean run
// unknown.
func (t *recoveryTally) result() results.AssertionResult {
	rc := t.rc
	res := results.AssertionResult{Limit: fmt.Sprintf("< %s from each fault's %s to the last stretch of ≥ %d windows at ≥ %s success that lasts until the next fault or the end", rc.below, rc.from(), rc.stable, pct(rc.ratio))}
	res.Verdict = verdictOf(t.slow.count)
	res.Observed = fmt.Sprintf("worst %s over %d faults", max(t.worst, 0), t.faults)
	if t.calm > 0 {
		res.Observed += fmt.Sprintf(" (%d with no impact)", t.calm)
	}
	if t.unmeasured > 0 {
		res.Observed = fmt.Sprintf("%d of %d faults not recovered", t.unmeasured, t.faults)
	} else {
		secs := max(t.worst, 0).Seconds()
		res.Value = &secs
	}
	res.Evidence = append(t.slow.lines(), capList(t.measured, MaxEvidence)...)
	if len(t.undecidedFaults) > 0 {
		res.Evidence = append(res.Evidence, capList(t.undecidedFaults, MaxEvidence)...)
		if res.Verdict == results.Pass {
			res.Verdict = results.Undecided
			res.Error = fmt.Sprintf("%d faults could not be judged: the next fault struck before they recovered and before the limit ran out", len(t.undecidedFaults))
		}
	}
	return res
}

// recoveredBy judges the windows from the one holding t0 up to the horizon (the next fault's
// start, or the end of the run when horizon < 0; a window that straddles the horizon belongs
// to the next fault): it returns whether the success ratio never dipped, or when the last stretch
// of good windows before the horizon began (relative to t0), with a trace of the success ratio
// per window for the evidence. A gap between windows breaks a stretch.
func (rc recovery) recoveredBy(ws []results.Figures, t0, horizon time.Duration) (recoveryOutcome, time.Duration, string) {
	var sel []results.Figures
	for _, w := range ws {
		if w.End > t0 && (horizon < 0 || w.End <= horizon) {
			sel = append(sel, w)
		}
	}
	if len(sel) == 0 {
		return noWindows, 0, ""
	}
	start, dipped := 0, false // sel[start:] is the last stretch of good windows
	var trace []string
	for i, w := range sel {
		ok, r := rc.good(w)
		trace = append(trace, fmt.Sprintf("%s %s", at(w.Start), pct(r)))
		switch {
		case !ok:
			start, dipped = i+1, true
		case i > 0 && sel[i-1].End != w.Start:
			start = i
		}
	}
	text := "success per window: " + strings.Join(traceAround(trace, start), ", ")
	switch {
	case !dipped:
		return noImpact, 0, text
	case len(sel)-start >= rc.stable:
		return recovered, max(sel[start].Start-t0, 0), text
	}
	return notRecovered, 0, text
}

// traceAround bounds a trace to the windows before and after the recovery point at start.
func traceAround(trace []string, start int) []string {
	if len(trace) <= maxTrace {
		return trace
	}
	from := max(0, min(start-maxTrace/2, len(trace)-maxTrace))
	out := make([]string, 0, maxTrace+2)
	if from > 0 {
		out = append(out, fmt.Sprintf("… %d windows", from))
	}
	out = append(out, trace[from:from+maxTrace]...)
	if rest := len(trace) - from - maxTrace; rest > 0 {
		out = append(out, fmt.Sprintf("… %d windows", rest))
	}
	return out
}

func buildFailover(p *params) (checkFunc, error) {
	below := p.duration("below")
	return func(v *view) results.AssertionResult { return checkFailover(v, below) }, nil
}

// leaderLoss is a moment the ledger lost its leader, how we know, and the leader that replaced
// it.
type leaderLoss struct {
	at     time.Duration
	leader string
	term   uint64 // the lost leadership's term, 0 when the events do not say
	cause  string
	// next is the first leader event after the loss that names another node or a higher term
	// (a new leadership); nil when none followed.
	next *results.Event
	// back is set when the first leader after the loss was the same node with no higher term.
	back bool
}

// leaderless reports a leader event that names no leader (the lab records "none").
func leaderless(e results.Event) bool { return e.Target == "" || e.Target == "none" }

// eventTerm reads "term N" from a leader event's detail (0 when absent).
func eventTerm(e results.Event) uint64 {
	_, rest, ok := strings.Cut(e.Detail, "term ")
	if !ok {
		return 0
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(rest[:end], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// leaderLosses reads the events in time order. A loss is a leader event with no leader, a
// fault aimed at the current leader (by node id, zone or region) or at "the leader" by name
// (leader-kill, leader-isolation), or, failing any of these, a change of leader (measured from
// the change, since its cause was not recorded). One loss is counted per leadership. Each
// loss is paired with the first leader event after it: a new leadership when it names another
// node or a higher term ("term N" in its detail), else none (the same node led again).
func leaderLosses(events []results.Event) []leaderLoss {
	es := append([]results.Event(nil), events...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].At < es[j].At })
	var out []leaderLoss
	leader, term, lost := "", uint64(0), false
	pending := -1 // the loss awaiting its next leader
	for i := range es {
		e := &es[i]
		switch e.Kind {
		case results.EventLeader:
			if leaderless(*e) {
				if leader != "" && !lost {
					out = append(out, leaderLoss{at: e.At, leader: leader, term: term, cause: "no leader"})
					pending = len(out) - 1
				}
				lost = true
				continue
			}
			t := eventTerm(*e)
			switch {
			case pending >= 0:
				l := &out[pending]
				if e.Target != l.leader || (t > 0 && l.term > 0 && t > l.term) {
					l.next = e
				} else {
					l.back = true
				}
				pending = -1
			case leader != "" && e.Target != leader && !lost:
				out = append(out, leaderLoss{at: e.At, leader: leader, term: term, next: e,
					cause: "leader changed to " + e.Target + " (cause not recorded; measured from the change)"})
			}
			leader, term, lost = e.Target, t, false
		case results.EventFault:
			if lost || leader == "" && !strings.Contains(e.Name, "leader") {
				continue
			}
			if strings.Contains(e.Name, "leader") || hitsNode(e.Target, leader) {
				out = append(out, leaderLoss{at: e.At, leader: leader, term: term, cause: "fault " + e.Label()})
				pending = len(out) - 1
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
// committed and was answered once the new leader had been seen: sent after, so that it cannot
// have been committed by the old leader before the loss; answered after the new leader's event,
// so that a commit the old leader still made (a fault that did not depose it at once) does not
// count as a failover (the lab polls the leader every 10 ms, which the figure may overstate).
// A loss with no later leader event naming another node or a higher term shows no failover
// at all, and is unknown (issue 10, item 6: "5 ms failover" with no leader change).
func checkFailover(v *view, below time.Duration) results.AssertionResult {
	losses := leaderLosses(v.in.Events)
	if len(losses) == 0 {
		return undecided("failover_time", fmt.Errorf("no leader loss in the run (no leader events without a leader, no fault on the leader)"))
	}
	f := &failovers{v: v, below: below, commits: commitsBySent(v), runEnd: v.end(), worst: -1,
		slow: &violations{what: "leader losses not followed by a commit under a new leader within the limit"}}
	f.end = f.runEnd // the load's end: leader changes after it (the checks, the exports) are not the run's
	for _, op := range v.ops {
		f.end = max(f.end, op.Done)
	}
	for _, l := range losses {
		f.judge(l)
	}
	losses = losses[:len(losses)-len(f.afterRun)] // those after the run come last (events in time order)
	if len(losses) == 0 {
		res := undecided("failover_time", fmt.Errorf("no leader loss during the load (%d after it, not judged)", len(f.afterRun)))
		res.Evidence = capList(f.afterRun, MaxEvidence)
		return res
	}
	return f.result(len(losses))
}

// commitsBySent is the history's acknowledged transfers in order of sending.
func commitsBySent(v *view) []*results.Op {
	commits := make([]*results.Op, 0, len(v.ops))
	for i := range v.ops {
		if op := &v.ops[i]; op.Type == results.OpTransfer && op.Kind == outcome.OK {
			commits = append(commits, op)
		}
	}
	sort.Slice(commits, func(i, j int) bool { return commits[i].Sent < commits[j].Sent })
	return commits
}

// failovers is failover_time's findings over the leader losses.
type failovers struct {
	v           *view
	below       time.Duration
	commits     []*results.Op // by send time
	runEnd, end time.Duration // the load's end (0 when the input does not say); the last answer's

	slow                           *violations
	measured, noFailover, afterRun []string
	worst                          time.Duration
	uncommitted                    int
}

// judge measures one leader loss to the first commit under its new leader.
func (f *failovers) judge(l leaderLoss) {
	who := l.leader
	if who == "" {
		who = "(not yet seen)"
	}
	label := fmt.Sprintf("leader %s lost at %s (%s)", who, at(l.at), l.cause)
	if f.runEnd > 0 && l.at >= f.runEnd { // runEnd 0: the input does not say where the load ended
		f.afterRun = append(f.afterRun, fmt.Sprintf("%s: after the load ended at %s, not judged", label, at(f.runEnd)))
		return
	}
	if l.next == nil {
		why := "no leader event followed"
		if l.back {
			why = fmt.Sprintf("the same node, %s, led again with no higher term recorded", l.leader)
		}
		f.noFailover = append(f.noFailover, fmt.Sprintf("%s: no new leader elected (%s), so no failover to measure", label, why))
		return
	}
	newLeader := fmt.Sprintf("new leader %s at %s", l.next.Target, at(l.next.At))
	next := f.firstCommitAfter(l)
	switch {
	case next == nil && f.end-l.at < f.below:
		// The run ended before the limit was reached: this loss cannot be judged either way.
		f.noFailover = append(f.noFailover, fmt.Sprintf("%s, %s: the run ended %s after the loss, before the limit, with no commit yet: not judged", label, newLeader, f.end-l.at))
	case next == nil:
		f.v.judging(l.at, f.end)
		f.uncommitted++
		f.slow.add(fmt.Sprintf("%s, %s: no transfer sent after the loss committed by the end of the run (%s)", label, newLeader, at(f.end)), float64(f.end-l.at))
		f.worst = max(f.worst, f.end-l.at)
	default:
		took := next.Done - l.at
		f.v.judging(l.at, next.Done)
		f.worst = max(f.worst, took)
		text := fmt.Sprintf("%s, %s: next commit after %s, %s", label, newLeader, took, opText(next))
		f.measured = append(f.measured, text)
		if took >= f.below {
			f.slow.add(text, float64(took))
		}
	}
}

// firstCommitAfter is the earliest answer after the new leader's event among the commits sent after
// the loss; nil when none.
func (f *failovers) firstCommitAfter(l leaderLoss) *results.Op {
	var next *results.Op
	for i := sort.Search(len(f.commits), func(i int) bool { return f.commits[i].Sent >= l.at }); i < len(f.commits); i++ {
		c := f.commits[i]
		if next != nil && c.Sent > next.Done {
			break
		}
		if c.Done >= l.next.At && (next == nil || c.Done < next.Done) {
			next = c
		}
	}
	return next
}

// result is the verdict over the losses during the load; losses with no new leader make a clean run
// unknown.
func (f *failovers) result(losses int) results.AssertionResult {
	res := results.AssertionResult{Limit: "< " + f.below.String() + " from leader loss to the first commit under a new leader"}
	res.Verdict = verdictOf(f.slow.count)
	res.Observed = fmt.Sprintf("worst %s over %d leader losses", max(f.worst, 0), losses-len(f.noFailover))
	if f.uncommitted > 0 {
		res.Observed = fmt.Sprintf("%d of %d leader losses not followed by a commit", f.uncommitted, losses-len(f.noFailover))
	} else if f.worst >= 0 {
		secs := f.worst.Seconds()
		res.Value = &secs
	}
	res.Evidence = append(f.slow.lines(), capList(f.measured, MaxEvidence)...)
	res.Evidence = append(res.Evidence, capList(f.afterRun, MaxEvidence)...)
	if len(f.noFailover) > 0 {
		res.Evidence = append(res.Evidence, capList(f.noFailover, MaxEvidence)...)
		if res.Verdict == results.Pass {
			res.Verdict = results.Undecided
			res.Error = fmt.Sprintf("%d of %d leader losses were not followed by a new leader (another node or a higher term), so no failover was shown", len(f.noFailover), losses)
			if len(f.noFailover) == losses {
				res.Observed = "no failover: no new leader after any leader loss"
			}
		}
	}
	return res
}
