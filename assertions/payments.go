package assertions

import (
	"fmt"
	"sort"
	"strings"

	"paylab/results"
)

// The history knows payments by the client's payment key (the idempotency key the client sent, from
// which lab/load derives the transfer id); the ledger's journal knows transfers by ledger transfer id,
// and each entry records the payment key it served. A healthy gateway sends the payment key as the
// ledger id, so the two coincide; a gateway that reissues a retry under a new ledger id makes two
// entries for one payment, which only an index by payment key can show.

// opaqueOps counts the history's operations that may have moved money without naming one payment
// (batches, generic plug-in operations): an entry the history does not show may be one of theirs.
func (v *view) opaqueOps() int {
	n := 0
	for i := range v.ops {
		if t := v.ops[i].Type; t == results.OpBatch || t == results.OpGeneric {
			n++
		}
	}
	return n
}

// blindWritten reports whether the replica journalled blind writes for payment key k (the naive
// lock mode applies a payment that way, with no transfer entry).
func (v *view) blindWritten(r *Replica, k string) bool {
	set, ok := v.writePayments[r]
	if !ok {
		set = map[string]bool{}
		for _, w := range r.Writes {
			set[w.Payment] = true
		}
		if v.writePayments == nil {
			v.writePayments = map[*Replica]map[string]bool{}
		}
		v.writePayments[r] = set
	}
	return set[k]
}

// otherKeys indexes, by payment key, the replica's entries that the journal's own map cannot find
// by that key: entries serving another payment key than their id, and repeated records of an id.
// A healthy journal has none, so the index costs one pass and no allocation per transfer at a
// million transfers (built once per replica and kept on the view).
func (v *view) otherKeys(r *Replica) map[string][]Transfer {
	if idx, ok := v.byPayment[r]; ok {
		return idx
	}
	idx := map[string][]Transfer{}
	for _, t := range r.Transfers {
		if t.Payment != "" && t.Payment != t.ID {
			idx[t.Payment] = append(idx[t.Payment], t)
		}
	}
	for _, t := range r.Repeated {
		k := t.PaymentKey()
		idx[k] = append(idx[k], t)
	}
	if v.byPayment == nil {
		v.byPayment = map[*Replica]map[string][]Transfer{}
	}
	v.byPayment[r] = idx
	return idx
}

// entriesFor returns the replica's entries that served payment key k, in index order.
func (v *view) entriesFor(r *Replica, k string) []Transfer {
	var out []Transfer
	if t, ok := r.Transfers[k]; ok && t.PaymentKey() == k {
		out = append(out, t)
	}
	out = append(out, v.otherKeys(r)[k]...)
	if len(out) > 1 {
		sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	}
	return out
}

// committedFor returns the committed entries of the replica that served payment key k.
func (v *view) committedFor(r *Replica, k string) []Transfer {
	var out []Transfer
	for _, t := range v.entriesFor(r, k) {
		if t.Committed() {
			out = append(out, t)
		}
	}
	return out
}

// entryText names a ledger entry for evidence: "t1 (acc-0→acc-1 100, index 7)", with the payment key
// when it is not the id.
func entryText(t Transfer) string {
	s := fmt.Sprintf("%s (%s→%s %d, index %d", t.ID, t.From, t.To, t.Amount, t.Index)
	if t.Payment != "" && t.Payment != t.ID {
		s += ", payment " + t.Payment
	}
	return s + ")"
}

func entriesText(ts []Transfer) string {
	parts := make([]string, 0, min(len(ts), 3))
	for _, t := range ts {
		parts = append(parts, entryText(t))
	}
	return strings.Join(capList(parts, 3), ", ")
}

// sameBody reports whether a ledger entry moves what the history's payment asked for.
func (s *submissions) sameBody(t Transfer) bool {
	return t.From == s.from && t.To == s.to && t.Amount == s.amount
}

// body names what the history's payment asked for: "acc-0→acc-1 100".
func (s *submissions) body() string { return fmt.Sprintf("%s→%s %d", s.from, s.to, s.amount) }
