package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"paylab/assertions"
	"paylab/faults"
	"paylab/suggest"
)

// checkCatalogues checks the timeline's faults and the assertions against their catalogues — names,
// targets, parameters — and the phases and faults assertions name against the timeline. Each problem is
// at the path of what is wrong: an unknown name or parameter at its key, a bad value at the value, a
// missing parameter at its step or assertion.
func (s *Scenario) checkCatalogues(pos Positions) []FieldError {
	var errs []FieldError
	for i, st := range s.Timeline {
		p := fmt.Sprintf("timeline[%d]", i)
		field := "fault"
		if st.IsHeal() {
			field = "heal"
		}
		if st.Fault == "" && st.Heal == "" || st.Fault != "" && st.Heal != "" {
			continue // Validate reports it
		}
		kind, ok := faults.Lookup(st.Name())
		if !ok {
			errs = append(errs, FieldError{Path: p + "." + field, Msg: fmt.Sprintf("unknown fault %q (known: %s%s)",
				st.Name(), strings.Join(faults.Names(), ", "), suggest.DidYouMean(st.Name(), faults.Names()))})
			continue
		}
		if st.IsHeal() {
			continue
		}
		if _, err := kind.New(s.Topology, st.Target, st.Params); err != nil {
			errs = append(errs, faultProblems(p, kind.Name, err)...)
		}
	}
	phases, faultSel := s.phaseNames()
	for i, a := range s.Assertions {
		p := fmt.Sprintf("assertions[%d]", i)
		if a.Name == "" {
			continue
		}
		_, err := assertions.New(a.Name, a.Params)
		if errors.Is(err, assertions.ErrUnknown) {
			// The name is the key of a mapping entry, or the whole scalar entry.
			errs = append(errs, FieldError{Path: p + "." + a.Name, AtKey: true, Msg: err.Error()})
			continue
		}
		if err != nil {
			errs = append(errs, assertionProblems(p+"."+a.Name, err)...)
		}
		errs = append(errs, timelineRefs(p, a, assertions.PhaseParams(a.Name), phases, "%s: phase %q is not a phase of this scenario's timeline (phases: %s%s)")...)
		errs = append(errs, timelineRefs(p, a, assertions.FaultParams(a.Name), faultSel, "%s: no fault %q in this scenario's timeline (faults: %s%s)")...)
	}
	return errs
}

// listed are the set's members worth listing in a message (not the "F T" and "F@T" spellings), sorted.
func listed(set map[string]bool) []string {
	var out []string
	for k := range set {
		if !strings.ContainsAny(k, "@ ") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// phaseNames are the phase selectors the timeline gives assertions (see assertions' phase parameter and
// the lab's recorded phases): all, steady; with faults, before, during, after; and for each injected
// fault F on target T, before:/during:/after: followed by F, "F T" or F@T, and the recorded "during:F#n"
// and "after:F#n" of a fault injected n times. faultSel are the ways to name those faults.
func (s *Scenario) phaseNames() (phases, faultSel map[string]bool) {
	phases = map[string]bool{"all": true, "steady": true}
	faultSel = map[string]bool{}
	seen := map[string]int{}
	for _, st := range s.Timeline {
		if _, known := faults.Lookup(st.Fault); st.IsHeal() || !known {
			continue
		}
		seen[st.Fault]++
		sels := []string{st.Fault}
		if st.Target != "" {
			sels = append(sels, st.Fault+" "+st.Target, st.Fault+"@"+st.Target)
		}
		for _, k := range []string{"before", "during", "after"} {
			phases[k] = true
			for _, sel := range sels {
				phases[k+":"+sel] = true
				faultSel[sel] = true
			}
			if n := seen[st.Fault]; n > 1 && k != "before" {
				phases[fmt.Sprintf("%s:%s#%d", k, st.Fault, n)] = true
			}
		}
	}
	return phases, faultSel
}

// causes walks err's tree (wrapped and joined errors) and returns every error of type T in it.
func causes[T error](err error) []T {
	var out []T
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if t, ok := e.(T); ok {
			out = append(out, t)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// faultProblems points each problem of a fault step at its parameter or target; what names neither (a
// rule between parameters) is at the step.
func faultProblems(step, kind string, err error) []FieldError {
	var out []FieldError
	for _, pe := range causes[*faults.ParamError](err) {
		path := step + "." + pe.Param
		if pe.Missing {
			path = step
		}
		out = append(out, FieldError{Path: path, AtKey: pe.Unknown, Msg: kind + ": " + pe.Error()})
	}
	for _, te := range causes[*faults.TargetError](err) {
		out = append(out, FieldError{Path: step + ".target", Msg: kind + ": " + te.Error()})
	}
	if len(out) == 0 {
		out = append(out, FieldError{Path: step, Msg: err.Error()})
	}
	return out
}

// assertionProblems points each problem of an assertion at its parameter; path is "assertions[i].name".
func assertionProblems(path string, err error) []FieldError {
	var out []FieldError
	for _, pe := range causes[*assertions.ParamError](err) {
		p := path + "." + pe.Param
		if pe.Missing {
			p = path
		}
		out = append(out, FieldError{Path: p, AtKey: pe.Unknown, Msg: pe.Error()})
	}
	if len(out) == 0 {
		out = append(out, FieldError{Path: path, Msg: err.Error()})
	}
	return out
}

// timelineRefs checks that assertion a's parameters named params (phases or fault selectors) name one of
// known, the scenario's timeline's; msg formats a problem from the assertion, the value, the known list and
// a suggestion. path is the assertion's own path.
func timelineRefs(path string, a AssertionSpec, params []string, known map[string]bool, msg string) []FieldError {
	var errs []FieldError
	for _, name := range params {
		v, ok := a.Params[name].(string)
		if !ok || known[v] {
			continue
		}
		errs = append(errs, FieldError{Path: path + "." + a.Name + "." + name,
			Msg: fmt.Sprintf(msg, a.Name, v, strings.Join(listed(known), ", "), suggest.DidYouMean(v, listed(known)))})
	}
	return errs
}
