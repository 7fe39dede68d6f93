package results

// Verdict is the three-state result of a check or a run, after Jepsen: a checker that could
// not decide says Unknown rather than passing.
type Verdict string

// The verdicts. Combine ranks them Fail > Unknown > Pass.
const (
	Pass      Verdict = "pass"
	Fail      Verdict = "fail"
	Undecided Verdict = "unknown"
)

// Combine returns the worse of two verdicts: fail beats unknown beats pass. The empty verdict
// is neutral, so Combine can fold over a list starting from "".
func Combine(a, b Verdict) Verdict {
	rank := func(v Verdict) int {
		switch v {
		case Fail:
			return 3
		case Undecided:
			return 2
		case Pass:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}
