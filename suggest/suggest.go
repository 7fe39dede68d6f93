// Package suggest finds the known name closest to a misspelled one, for "did you mean …?" in error messages.
package suggest

// Closest returns the candidate nearest to name by edit distance (Levenshtein: insertions, deletions and
// substitutions of runes), when it is near enough to be a plausible misspelling: at most a third of the
// longer name's length, and at least 1 edit allowed. Ties go to the earlier candidate. ok is false when no
// candidate is near enough, or name is itself a candidate.
func Closest(name string, candidates []string) (best string, ok bool) {
	bestD := -1
	for _, c := range candidates {
		if c == name {
			return "", false
		}
		d := Distance(name, c)
		limit := max(1, max(len([]rune(name)), len([]rune(c)))/3)
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best, bestD >= 0
}

// DidYouMean is `; did you mean "x"?` for the closest candidate, or "" when none is close.
func DidYouMean(name string, candidates []string) string {
	if c, ok := Closest(name, candidates); ok {
		return "; did you mean " + c + "?"
	}
	return ""
}

// Distance is the Levenshtein distance between a and b, in runes. It uses O(len(b)) memory.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
