package lab

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"paylab/assertions"
	"paylab/faults"
	"paylab/results"
	"paylab/scenarios"
)

// defaultConvergeWithin is how long the lab waits for the replicas to converge before the export when no
// assertion asks for a wait of its own.
const defaultConvergeWithin = 5 * time.Second

// Plan is a scenario with its timeline and assertions validated against their catalogues, ready to run. It
// refers to its scenario: fields the plan does not fix (seed, duration, workload) may be changed before
// Run, as long as the scenario still validates. A plan is not changed by running it.
type Plan struct {
	s        *scenarios.Scenario
	steps    []faults.Step
	checkers []assertions.Checker
	expected []bool   // by checker: the scenario expects it to fail
	ids      []string // by checker: the id expect knows it by
	ask      assertions.Ask
}

// asker is what a checker implements to ask the lab for something before the Input is built (the
// catalogue's checkers all do; see assertions.Ask).
type asker interface {
	Ask() assertions.Ask
}

// Prepare validates the scenario's fault steps and assertions against their catalogues; every problem is
// reported with its file:line:col. Nothing is started.
func Prepare(s *scenarios.Scenario, pos scenarios.Positions) (*Plan, error) {
	p := &Plan{s: s}
	var errs []string
	for _, st := range s.Timeline {
		step, err := faults.StepFor(s.Topology, st.At, st.Fault, st.Heal, st.Target, st.Params, st.Pos)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		p.steps = append(p.steps, step)
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
		if ak, ok := c.(asker); ok {
			p.ask.ConvergeWithin = max(p.ask.ConvergeWithin, ak.Ask().ConvergeWithin)
		}
	}
	if len(errs) > 0 {
		return nil, &InvalidError{Problems: errs}
	}
	return p, nil
}

// Scenario is the scenario the plan runs.
func (p *Plan) Scenario() *scenarios.Scenario { return p.s }

// convergeWithin is how long the run waits for the replicas to converge before the export: the longest
// any assertion asks for, or defaultConvergeWithin when none asks.
func (p *Plan) convergeWithin() time.Duration {
	if p.ask.ConvergeWithin > 0 {
		return p.ask.ConvergeWithin
	}
	return defaultConvergeWithin
}

// InvalidError lists every problem Prepare found, each as "file:line:col: message".
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string { return strings.Join(e.Problems, "\n") }

// judge runs the assertions on in and marks each result with its id and whether the scenario expects it
// to fail.
func (p *Plan) judge(in *assertions.Input) []results.AssertionResult {
	res, _ := assertions.CheckAll(in, p.checkers)
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
