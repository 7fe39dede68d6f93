package assertions

import (
	"fmt"

	"paylab/results"
)

// withholdPassOnPartialHistory applies the rule that a checker which needs the history cannot
// pass on a history that dropped operations past its bound (issue 10, "inputs that cannot
// decide are unknown"; Jepsen's checkers answer :unknown rather than true when their input is
// incomplete). A failure stands — its violation is in the operations that were kept, and
// nothing dropped can undo it — but a pass vouches for operations nobody saw, so it becomes
// unknown with the count. Checkers that need the whole history to judge at all
// (needCompleteHistory) are skipped before they run.
func withholdPassOnPartialHistory(res results.AssertionResult, n needs, v *view) results.AssertionResult {
	if n&needHistory == 0 || v.dropped == 0 || res.Verdict != results.Pass {
		return res
	}
	res.Verdict = results.Undecided
	res.Error = fmt.Sprintf("the history dropped %d operations past its capacity: a pass cannot vouch for them (would have been pass)", v.dropped)
	return res
}

// historyGap says why the history may lack operations of the run ("" when it is whole): it
// was not kept, is empty or malformed, or dropped operations past its bound.
func (v *view) historyGap() string {
	switch {
	case v.historyOK != nil:
		return v.historyOK.Error()
	case v.dropped > 0:
		return fmt.Sprintf("the history dropped %d operations past its capacity", v.dropped)
	}
	return ""
}
