package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"paylab/assertions"
	"paylab/faults"
	"paylab/lab/load"
	"paylab/regions"
	"paylab/results"
	"paylab/scenarios"
)

// Plan is a scenario's timeline and assertions, validated and ready to run.
type Plan struct {
	steps    []faults.Step
	timeline *faults.Timeline
	checkers []assertions.Checker
	expected []bool        // by checker: the scenario expects it to fail
	ids      []string      // by checker: the id expect knows it by
	within   time.Duration // how long to wait for replicas to converge

	mu sync.Mutex
}

// Prepare validates the scenario's fault steps and assertions against their catalogues; every problem is
// reported with its file:line:col. Nothing is started.
func Prepare(s *scenarios.Scenario, pos scenarios.Positions) (*Plan, error) {
	p := &Plan{within: 5 * time.Second}
	var errs []string
	for i, st := range s.Timeline {
		if st.IsHeal() {
			p.steps = append(p.steps, faults.Step{At: st.At, Heal: st.Heal, Target: st.Target, Pos: st.Pos})
			continue
		}
		kind, ok := faults.Lookup(st.Fault)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: timeline[%d].fault: unknown fault %q (known: %s)", pos.Of(fmt.Sprintf("timeline[%d].fault", i)), i, st.Fault, strings.Join(faults.Names(), ", ")))
			continue
		}
		f, err := kind.New(s.Topology, st.Target, st.Params)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: timeline[%d]: %v", st.Pos, i, err))
			continue
		}
		p.steps = append(p.steps, faults.Step{At: st.At, Inject: f, Pos: st.Pos})
	}
	if len(errs) == 0 {
		if err := faults.CheckSteps(p.steps); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, a := range s.Assertions {
		c, err := assertions.New(a.Name, a.Params)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: assertions: %v", a.Pos, err))
			continue
		}
		p.checkers = append(p.checkers, c)
		p.ids = append(p.ids, a.ID)
		p.expected = append(p.expected, slices.Contains(s.Expect.Failing, a.Key()))
		if a.Name == "replicas_converge" {
			if d, ok := durationParam(a.Params["within"]); ok {
				p.within = d
			}
		}
	}
	if len(errs) > 0 {
		return nil, &InvalidError{Problems: errs}
	}
	return p, nil
}

// InvalidError lists every problem Prepare found, each as "file:line:col: message".
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string { return strings.Join(e.Problems, "\n") }

func durationParam(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// startTimeline binds the plan's steps to a running lab; call it once, before runTimeline.
func (p *Plan) startTimeline(l *Lab) error {
	t, err := faults.NewTimeline(l, p.steps)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.timeline = t
	p.mu.Unlock()
	return nil
}

// runTimeline injects and heals the faults on schedule (offsets from the lab's epoch) until the steps are
// done or ctx ends, printing each step.
func (p *Plan) runTimeline(ctx context.Context, l *Lab, out io.Writer) error {
	if len(p.steps) == 0 {
		return nil
	}
	return p.timeline.Run(ctx)
}

// healAll heals whatever is still active (the lab's exit path; also after Ctrl-C, with a fresh context).
func (p *Plan) healAll(ctx context.Context, l *Lab, out io.Writer) error {
	p.mu.Lock()
	t := p.timeline
	p.mu.Unlock()
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*faults.StepTimeout)
	defer cancel()
	return t.HealAll(ctx)
}

// running returns the faults injected and not healed yet as open fault events (Until 0).
func (p *Plan) running() []results.Event {
	p.mu.Lock()
	t := p.timeline
	p.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.Running()
}

type checkInput struct {
	run      *results.Run
	hist     *results.History
	workload *load.Workload
	rec      *results.Recorder
	t0       time.Time
	phases   []results.Phase
}

// check restarts every ledger node a fault left down (finalRecovery), waits for the replicas to converge (up
// to the scenario's replicas_converge window), exports every replica, and runs the assertions with the
// topology's ledger nodes as the expected set, so a replica that is missing or unreadable is named.
func (p *Plan) check(ctx context.Context, l *Lab, in *checkInput, out io.Writer) []results.AssertionResult {
	restarted := l.finalRecovery(ctx, out)
	converged, reps := l.exportConverged(ctx, p.within)
	if !converged {
		fmt.Fprintf(out, "  replicas did not converge within %v\n", p.within)
	}
	l.noteCaughtUp(restarted, converged, p.within)
	var expected []string
	for _, n := range l.s.Topology.LedgerNodes() {
		expected = append(expected, LedgerName(n.ID))
	}
	input := &assertions.Input{
		Start:          in.t0,
		Accounts:       assertions.Accounts{Count: l.s.Accounts.Count, Balance: l.s.Accounts.Balance},
		History:        in.hist,
		Replicas:       reps,
		Nodes:          expected,
		Total:          in.run.Total,
		Windows:        in.run.Windows,
		Phases:         in.phases,
		PhaseFigures:   in.run.Phases,
		Spans:          in.rec,
		Events:         l.Events(),
		TransferID:     in.workload.TransferID,
		RequestTimeout: l.s.Workload.Timeout,
	}
	res, _ := assertions.CheckAll(input, p.checkers)
	for i := range res {
		if i < len(p.ids) {
			res[i].ID = p.ids[i]
		}
		if i < len(p.expected) && p.expected[i] {
			res[i].Expected = results.Fail
		}
	}
	return res
}

// finalRecovery restarts every ledger node that is down at the end of the run — its process crashed and a
// heal did not bring it back, or its links are still marked down — as Jepsen's final recovery does: the
// node starts from its own files, so every run that crashed a node audits its crash-recovery path, and the
// checkers see every replica. Each restart, or its failure, is recorded as a "final-recovery" event; the
// nodes restarted are returned. A node that fails to start stays down and its replica unreadable (the money
// and convergence checkers are then unknown, naming it).
func (l *Lab) finalRecovery(ctx context.Context, out io.Writer) []regions.NodeID {
	var restarted []regions.NodeID
	for _, id := range l.LedgerNodes() {
		l.mu.Lock()
		n, err := l.ledger(id)
		down := err == nil && n.node == nil
		l.mu.Unlock()
		if !down && !l.nw.IsDown(id) {
			continue
		}
		detail := "restarted from its own files before the export (final recovery)"
		if err := l.RestartNode(ctx, id); err != nil {
			detail = "final recovery failed, the node stays down: " + err.Error()
		} else {
			restarted = append(restarted, id)
		}
		fmt.Fprintf(out, "  %s: %s\n", id, detail)
		l.Record(results.Event{At: l.Elapsed(), Kind: results.EventNote, Name: "final-recovery", Target: string(id), Detail: detail})
	}
	return restarted
}

// noteCaughtUp records, for each node finalRecovery restarted, whether it caught up with the others before
// the export (waitConverged's condition) and at which applied index.
func (l *Lab) noteCaughtUp(restarted []regions.NodeID, converged bool, within time.Duration) {
	for _, id := range restarted {
		l.mu.Lock()
		var applied uint64
		if n, err := l.ledger(id); err == nil && n.node != nil {
			applied = n.node.FSM().AppliedIndex()
		}
		l.mu.Unlock()
		detail := fmt.Sprintf("caught up: the replicas met at applied index %d", applied)
		if !converged {
			detail = fmt.Sprintf("the replicas did not meet within %v (this node at applied index %d)", within, applied)
		}
		l.Record(results.Event{At: l.Elapsed(), Kind: results.EventNote, Name: "final-recovery", Target: string(id), Detail: detail})
	}
}

// exportConverged waits for the replicas to converge and exports them, until the exports were taken at one
// applied index or within passes (then the last exports are returned, and false). A request still in
// flight in a gateway when the load ended can commit after the replicas met: the leader applies it before
// the followers hear of the commit, and exports taken then differ for that reason alone.
func (l *Lab) exportConverged(ctx context.Context, within time.Duration) (bool, []assertions.Replica) {
	deadline := time.Now().Add(within)
	for {
		converged := l.waitConverged(ctx, time.Until(deadline))
		reps := l.exportReplicas()
		if converged && sameAppliedIndex(reps) {
			return true, reps
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false, reps
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

// sameAppliedIndex reports whether the readable replicas were read at one applied index (a replica that
// could not be read is the checkers' to report; waiting does not bring it back).
func sameAppliedIndex(reps []assertions.Replica) bool {
	var at uint64
	n := 0
	for i := range reps {
		if !reps[i].Readable() {
			continue
		}
		if n > 0 && reps[i].AppliedIndex != at {
			return false
		}
		at = reps[i].AppliedIndex
		n++
	}
	return n > 0
}

// waitConverged polls the live replicas until they have applied the same index with equal state hashes,
// or until within passes.
func (l *Lab) waitConverged(ctx context.Context, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if l.converged() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

func (l *Lab) converged() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Cheap checks first: every live replica caught up, all at one applied index. Only then hash the
	// states, which reads every record.
	var live []*ledgerNode
	for _, n := range l.ledgerNodes() {
		if n.node == nil {
			continue
		}
		if ok, err := n.node.CaughtUp(); !ok || err != nil {
			return false
		}
		if len(live) > 0 && n.node.FSM().AppliedIndex() != live[0].node.FSM().AppliedIndex() {
			return false
		}
		live = append(live, n)
	}
	if len(live) == 0 {
		return false
	}
	var first string
	for i, n := range live {
		sum, err := n.node.FSM().Summary()
		if err != nil {
			return false
		}
		if i == 0 {
			first = sum.Hash
		} else if sum.Hash != first {
			return false
		}
	}
	return true
}

// exportReplicas reads every ledger node's final state through the ledger's export format. A node that
// is down is reported as not live with an error.
func (l *Lab) exportReplicas() []assertions.Replica {
	l.mu.Lock()
	nodes := l.ledgerNodes()
	l.mu.Unlock()
	var out []assertions.Replica
	for _, n := range nodes {
		l.mu.Lock()
		node := n.node
		l.mu.Unlock()
		if node == nil {
			out = append(out, assertions.Replica{Node: n.name, Err: errors.New("node is down")})
			continue
		}
		var buf bytes.Buffer
		err := node.FSM().Export(&buf, n.name)
		rep, perr := assertions.ReadReplica(&buf)
		if err == nil {
			err = perr
		}
		if err != nil {
			rep = assertions.Replica{Node: n.name, Err: err}
		}
		rep.Live = true
		out = append(out, rep)
	}
	return out
}
