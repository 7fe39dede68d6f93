package assertions

import "fmt"

// MaxEvidence bounds the violations a result lists one by one; the rest are counted, and the
// worst and the last are named, as Jepsen's bank checker summarises each error type.
const MaxEvidence = 10

// violations collects one kind of violation in the order found: the first MaxEvidence are
// kept, plus the worst (by score) and the last, so memory stays bounded whatever the count.
type violations struct {
	what  string // "account balance differs from its journal"
	count int
	first []string
	worst string
	score float64
	last  string
}

func (v *violations) add(text string, score float64) {
	v.count++
	if len(v.first) < MaxEvidence {
		v.first = append(v.first, text)
	}
	if v.count == 1 || score > v.score {
		v.worst, v.score = text, score
	}
	v.last = text
}

// lines renders the summary: a count line, the first violations, then the worst and the last
// when they were not already listed.
func (v *violations) lines() []string {
	if v.count == 0 {
		return nil
	}
	out := make([]string, 0, len(v.first)+3)
	out = append(out, fmt.Sprintf("%s: %d", v.what, v.count))
	for _, f := range v.first {
		out = append(out, "  "+f)
	}
	if v.count > len(v.first) {
		out = append(out, fmt.Sprintf("  … %d more", v.count-len(v.first)))
		if !contains(v.first, v.worst) {
			out = append(out, "  worst: "+v.worst)
		}
		if !contains(v.first, v.last) && v.last != v.worst {
			out = append(out, "  last: "+v.last)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// evidenceOf joins the summaries of several kinds of violation, most telling first.
func evidenceOf(vs ...*violations) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.lines()...)
	}
	return out
}
