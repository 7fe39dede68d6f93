package assertions

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"paylab/results"
	"paylab/suggest"
)

// Checker judges one invariant or limit of a run. Check never panics and never returns an
// empty verdict: a checker that cannot decide says unknown, with the reason in Error.
type Checker interface {
	Name() string
	Check(in *Input) results.AssertionResult
}

// Definition describes one assertion of the catalogue: its name, what it checks and the
// parameters it accepts.
type Definition struct {
	Name    string
	Summary string
	Params  []Param
	needs   needs
	build   func(p *params) (checkFunc, error)
	// ask, when set, says what the assertion asks of the lab (ask.go).
	ask func(p *params) Ask
	// timing marks a verdict measured in wall time (latency, error rate, recovery, failover):
	// over windows in which the lab was saturated it is unknown (see results.SaturationRule).
	timing bool
}

// checkFunc is the body of a checker, run on a prepared view.
type checkFunc func(v *view) results.AssertionResult

// needs are the assumptions a checker relies on; CheckAll skips a checker whose assumption
// failed instead of letting it judge from input it cannot trust.
type needs uint8

const (
	needReplicas        needs = 1 << iota // at least one readable replica
	needHistory                           // a history with well-formed records
	needCompleteHistory                   // nothing dropped from the history
	needFigures                           // the recorder's figures
)

// catalogue is the explicit list of assertions, in the order reports show them.
func catalogue() []Definition {
	phase := Param{Name: "phase", Kind: Text, Default: "all",
		Doc: "the part of the run: all, steady, before, during, after, before:<fault>, during:<fault>, after:<fault>, or a recorded phase name"}
	per := Param{Name: "per", Kind: Text, Default: "phase", Choices: []string{"phase", "window"},
		Doc: "judge the phase as a whole, or each one-second window in it"}
	minReq := Param{Name: "min_requests", Kind: Count, Default: "1", Doc: "windows with fewer requests are not judged (per: window)"}
	return []Definition{
		{Name: "no_double_deduct", Summary: "at most one ledger entry per idempotency key; every balance equals its opening balance plus the committed journal; no duplicate submission moved money twice",
			needs: needReplicas, build: func(*params) (checkFunc, error) { return checkNoDoubleDeduct, nil }},
		{Name: "conservation", Summary: "the sum of balances on every replica equals accounts × opening balance",
			needs: needReplicas, build: func(*params) (checkFunc, error) { return checkConservation, nil }},
		{Name: "no_negative_balance", Summary: "no balance on any replica is below zero",
			needs: needReplicas, build: func(*params) (checkFunc, error) { return checkNoNegativeBalance, nil }},
		{Name: "no_lost_ack", Summary: "every transfer acknowledged committed is committed on every live replica; none acknowledged rejected is committed anywhere",
			needs: needReplicas | needHistory, build: func(*params) (checkFunc, error) { return checkNoLostAck, nil }},
		{Name: "replicas_converge", Summary: "every expected replica is up, readable, and exported the same accounts, transfers and blind writes (compared record by record)",
			Params: []Param{{Name: "within", Kind: Duration, Default: "5s", Doc: "how long the lab waits for replicas to catch up before exporting them"}},
			needs:  needReplicas, build: buildConverge, ask: askConverge},
		{Name: "linearizable", Summary: "reads and transfers of the history are linearizable on a bank model (porcupine), when the history is small",
			Params: []Param{
				{Name: "max_ops", Kind: Count, Default: "5000", Doc: "the most reads and transfers checked; a longer history is unknown"},
				{Name: "timeout", Kind: Duration, Default: "10s", Doc: "the longest the search may take; a timeout is unknown"},
			},
			needs: needHistory | needCompleteHistory, build: buildLinearizable},
		{Name: "reads_linearizable", Summary: "every read returns a balance its account held at an index of the ledger's commit order inside the read's real-time window, and no read goes back (any history size)",
			needs: needReplicas | needHistory, build: buildReads},
		{Name: "p99", Summary: "the 99th percentile latency (from intended send) is below a limit",
			Params: []Param{{Name: "below", Kind: Duration, Required: true, Doc: "the limit, e.g. 50ms"}, phase, per, minReq},
			needs:  needFigures, build: buildPercentile("p99", func(l results.Latency) time.Duration { return l.P99 }), timing: true},
		{Name: "p999", Summary: "the 99.9th percentile latency (from intended send) is below a limit",
			Params: []Param{{Name: "below", Kind: Duration, Required: true, Doc: "the limit, e.g. 200ms"}, phase, per, minReq},
			needs:  needFigures, build: buildPercentile("p999", func(l results.Latency) time.Duration { return l.P999 }), timing: true},
		{Name: "error_rate", Summary: "the share of failed and unknown outcomes is below a limit",
			Params: []Param{{Name: "below", Kind: Fraction, Required: true, Doc: "the limit, e.g. 0.1%"}, phase, per, minReq},
			needs:  needFigures, build: buildErrorRate, timing: true},
		{Name: "recovery_time", Summary: "from each fault's start (or heal) to the last stretch of ≥ 2 seconds at ≥ 99% success that lasts until the next fault or the end of the run is below a limit",
			Params: []Param{
				{Name: "below", Kind: Duration, Required: true, Doc: "the limit, e.g. 3s"},
				{Name: "from", Kind: Text, Default: "start", Choices: []string{"start", "heal"}, Doc: "measure from the fault's start or from its heal"},
				{Name: "fault", Kind: Text, Doc: "only faults of this name (default: every fault)"},
				{Name: "ratio", Kind: Fraction, Default: "99%", Doc: "successes / offered requests of a good window"},
				{Name: "stable", Kind: Count, Default: "2", Doc: "consecutive good windows that mark recovery"},
			},
			needs: needFigures, build: buildRecovery, timing: true},
		{Name: "failover_time", Summary: "from each leader loss until the first commit under a new leader (another node or a higher term) is below a limit",
			Params: []Param{{Name: "below", Kind: Duration, Required: true, Doc: "the limit, e.g. 2s"}},
			needs:  needHistory | needCompleteHistory, build: buildFailover, timing: true},
		{Name: "leader_changes", Summary: "leaderships that ended in a phase (the leader lost, or replaced by another node) are at most a limit: churn after a heal or under snapshots fails it",
			Params: []Param{{Name: "at_most", Kind: Count, Required: true, Doc: "the most leader changes allowed, e.g. 1"}, phase},
			build:  buildLeaderChanges, timing: true},
		{Name: "event_count", Summary: "the run recorded at least a number of events of a name in a phase (proof that what the scenario exercises happened, e.g. snapshot-installed)",
			Params: []Param{
				{Name: "name", Kind: Text, Required: true, Doc: "the event name, e.g. snapshot-installed"},
				{Name: "at_least", Kind: Count, Default: "1", Doc: "the fewest events that pass"},
				phase,
			},
			build: buildEventCount},
	}
}

// Lookup returns the definition of the named assertion.
func Lookup(name string) (Definition, bool) {
	for _, d := range catalogue() {
		if d.Name == name {
			return d, true
		}
	}
	return Definition{}, false
}

// Names lists every assertion of the catalogue, in report order.
func Names() []string {
	defs := catalogue()
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Name
	}
	return out
}

// ErrUnknown marks an assertion name the catalogue does not hold.
var ErrUnknown = errors.New("unknown assertion")

// PhaseParams lists the parameters of the named assertion that select a phase of the run
// (values such as "steady" or "during:zone-down"), so a scenario can check them against its
// timeline. FaultParams lists those that name a fault.
func PhaseParams(name string) []string { return paramsNamed(name, "phase") }

// FaultParams lists the parameters of the named assertion that name a fault of the timeline.
func FaultParams(name string) []string { return paramsNamed(name, "fault") }

func paramsNamed(name, param string) []string {
	def, ok := Lookup(name)
	if !ok {
		return nil
	}
	for _, p := range def.Params {
		if p.Name == param {
			return []string{param}
		}
	}
	return nil
}

// New validates an assertion as a scenario writes it (a name and its parameters, YAML
// scalars as Go values) and returns its checker. Errors name the assertion and the
// parameter: `p99: below: "fast" is not a duration`.
func New(name string, params map[string]any) (Checker, error) {
	def, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s%s)", ErrUnknown, name, strings.Join(Names(), ", "), suggest.DidYouMean(name, Names()))
	}
	p, err := parseParams(&def, params)
	if err != nil {
		return nil, err
	}
	fn, err := def.build(p)
	if err != nil {
		return nil, err
	}
	c := &checker{name: def.Name, needs: def.needs, timing: def.timing, run: fn}
	if def.ask != nil {
		c.ask = def.ask(p)
	}
	return c, nil
}

// checker is a catalogue assertion with validated parameters.
type checker struct {
	name   string
	needs  needs
	timing bool
	run    checkFunc
	ask    Ask
}

var _ Checker = (*checker)(nil)

// Name implements Checker.
func (c *checker) Name() string { return c.name }

// Check implements Checker.
func (c *checker) Check(in *Input) results.AssertionResult {
	if in == nil {
		return undecided(c.name, errors.New("no input"))
	}
	v := newView(in)
	if err := v.assume(c.needs); err != nil {
		return undecided(c.name, fmt.Errorf("skipped: %w", err))
	}
	return c.checkView(v)
}

// checkView runs the checker, turning a panic into an unknown verdict (Jepsen's rule: a
// checker that throws cannot decide, and must not take the run down with it).
func (c *checker) checkView(v *view) (res results.AssertionResult) {
	defer func() {
		if r := recover(); r != nil {
			res = undecided(c.name, fmt.Errorf("checker panicked: %v\n%s", r, firstLines(debug.Stack(), 12)))
		}
	}()
	v.judged = v.judged[:0]
	res = c.run(v)
	res.Name = c.name
	res = withholdPassOnPartialHistory(res, c.needs, v)
	if c.timing {
		res = undecideIfSaturated(res, v.labSaturation())
	}
	if res.Verdict == "" {
		res.Verdict = results.Undecided
		if res.Error == "" {
			res.Error = "checker returned no verdict"
		}
	}
	return res
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// assume checks the assumptions a checker relies on.
func (v *view) assume(n needs) error {
	if n&needReplicas != 0 {
		ok, bad := v.readable()
		if len(ok) == 0 {
			if len(v.in.Replicas) == 0 && len(v.missing) == 0 {
				return errors.New("assumption failed: no replica states were collected")
			}
			return fmt.Errorf("assumption failed: no replica could be read (%s)", strings.Join(capList(bad, MaxEvidence), "; "))
		}
	}
	if n&(needHistory|needCompleteHistory) != 0 && v.historyOK != nil {
		return fmt.Errorf("assumption failed: %w", v.historyOK)
	}
	if n&needCompleteHistory != 0 && v.dropped > 0 {
		return fmt.Errorf("assumption failed: the history dropped %d operations past its capacity", v.dropped)
	}
	if n&needFigures != 0 && len(v.in.Windows) == 0 && len(v.in.PhaseFigures) == 0 && v.in.Total.Requests == 0 {
		return errors.New("assumption failed: the run recorded no figures (no windows, phases or totals)")
	}
	return nil
}

func capList(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(list[:n:n], fmt.Sprintf("… %d more", len(list)-n))
}

// CheckAll runs every checker on one prepared view of in, in order, and returns their results
// and the combined verdict (fail beats unknown beats pass; no checkers is a pass). A checker
// whose assumptions failed is skipped with an unknown verdict naming the assumption; a checker
// that panics is unknown with the panic. Took is set on each result.
func CheckAll(in *Input, checkers []Checker) ([]results.AssertionResult, results.Verdict) {
	out := make([]results.AssertionResult, 0, len(checkers))
	verdict := results.Pass
	if in == nil {
		in = &Input{}
	}
	v := newView(in)
	for _, c := range checkers {
		began := time.Now()
		var res results.AssertionResult
		switch cc := c.(type) {
		case *checker:
			if err := v.assume(cc.needs); err != nil {
				res = undecided(cc.name, fmt.Errorf("skipped: %w", err))
			} else {
				res = cc.checkView(v)
			}
		default:
			res = checkForeign(c, in)
		}
		res.Took = time.Since(began)
		verdict = results.Combine(verdict, res.Verdict)
		out = append(out, res)
	}
	return out, verdict
}

// checkForeign runs a Checker from outside the catalogue with the same panic rule.
func checkForeign(c Checker, in *Input) (res results.AssertionResult) {
	name := "(unnamed checker)"
	defer func() {
		if r := recover(); r != nil {
			res = undecided(name, fmt.Errorf("checker panicked: %v", r))
		}
	}()
	name = c.Name()
	res = c.Check(in)
	if res.Name == "" {
		res.Name = name
	}
	if res.Verdict == "" {
		res.Verdict, res.Error = results.Undecided, "checker returned no verdict"
	}
	return res
}

// undecided is the result of a checker that could not decide.
func undecided(name string, err error) results.AssertionResult {
	return results.AssertionResult{Name: name, Verdict: results.Undecided, Error: err.Error()}
}

// verdictOf is fail when there are violations, pass otherwise.
func verdictOf(violations int) results.Verdict {
	if violations > 0 {
		return results.Fail
	}
	return results.Pass
}
