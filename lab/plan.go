package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"paylab/assertions"
	"paylab/lab/load"
	"paylab/results"
	"paylab/scenarios"
)

// Plan is a scenario's timeline and assertions, validated and ready to run.
type Plan struct {
	checkers []assertions.Checker
	expected map[string]bool // assertions the scenario expects to fail
	within   time.Duration   // how long to wait for replicas to converge

	mu     sync.Mutex
	active []string // names of faults active now, for the progress line
}

// Prepare validates the scenario's fault steps and assertions against their catalogues; every problem is
// reported with its file:line:col. Nothing is started.
func Prepare(s *scenarios.Scenario, pos scenarios.Positions) (*Plan, error) {
	p := &Plan{expected: map[string]bool{}, within: 5 * time.Second}
	var errs []string
	// The fault catalogue is being wired in (issue 4); until then a scenario with faults is refused
	// rather than run without them.
	if len(s.Timeline) > 0 {
		errs = append(errs, fmt.Sprintf("%s: timeline: faults are not wired into the lab yet", s.Timeline[0].Pos))
	}
	for _, a := range s.Assertions {
		c, err := assertions.New(a.Name, a.Params)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: assertions: %v", a.Pos, err))
			continue
		}
		p.checkers = append(p.checkers, c)
		if a.Name == "replicas_converge" {
			if d, ok := durationParam(a.Params["within"]); ok {
				p.within = d
			}
		}
	}
	for _, f := range s.Expect.Failing {
		p.expected[f] = true
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrSetup, strings.Join(errs, "\n"))
	}
	return p, nil
}

func durationParam(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

func (p *Plan) runTimeline(ctx context.Context, l *Lab, t0 time.Time, out io.Writer) error {
	return nil
}

func (p *Plan) healAll(ctx context.Context, l *Lab, out io.Writer) error { return nil }

// activeSuffix is the progress line's note of the faults active now.
func (p *Plan) activeSuffix() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.active) == 0 {
		return ""
	}
	return "  fault " + strings.Join(p.active, ", ")
}

type checkInput struct {
	run      *results.Run
	hist     *results.History
	workload *load.Workload
	rec      *results.Recorder
	t0       time.Time
	phases   []results.Phase
}

// check waits for the replicas to converge (up to the scenario's replicas_converge window), exports every
// replica, and runs the assertions.
func (p *Plan) check(ctx context.Context, l *Lab, in *checkInput, out io.Writer) []results.AssertionResult {
	converged := l.waitConverged(ctx, p.within)
	if !converged {
		fmt.Fprintf(out, "  replicas did not converge within %v\n", p.within)
	}
	reps := l.exportReplicas()
	input := &assertions.Input{
		Start:        in.t0,
		Accounts:     assertions.Accounts{Count: l.s.Accounts.Count, Balance: l.s.Accounts.Balance},
		History:      in.hist,
		Replicas:     reps,
		Total:        in.run.Total,
		Windows:      in.run.Windows,
		Phases:       in.phases,
		PhaseFigures: in.run.Phases,
		Spans:        in.rec,
		Events:       l.Events(),
		TransferID:   in.workload.TransferID,
	}
	res, _ := assertions.CheckAll(input, p.checkers)
	for i := range res {
		if p.expected[res[i].Name] {
			res[i].Expected = results.Fail
		}
	}
	return res
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
	var first string
	var idx uint64
	for i, n := range l.ledgers {
		if n.node == nil {
			continue
		}
		st := n.node.Status()
		if st.AppliedIndex < st.CommitIndex {
			return false
		}
		sum, err := n.node.FSM().Summary()
		if err != nil {
			return false
		}
		if i == 0 || first == "" {
			first, idx = sum.Hash, sum.AppliedIndex
			continue
		}
		if sum.Hash != first || sum.AppliedIndex != idx {
			return false
		}
	}
	return first != ""
}

// exportReplicas reads every ledger node's final state through the ledger's export format. A node that
// is down is reported as not live with an error.
func (l *Lab) exportReplicas() []assertions.Replica {
	l.mu.Lock()
	nodes := append([]*ledgerNode(nil), l.ledgers...)
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
