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

// paymentEntries returns the replica's journal grouped by payment key, each group in index order
// (built once per replica and kept on the view).
func (v *view) paymentEntries(r *Replica) map[string][]Transfer {
	if idx, ok := v.byPayment[r]; ok {
		return idx
	}
	idx := make(map[string][]Transfer, len(r.Transfers))
	for _, t := range r.Transfers {
		k := t.PaymentKey()
		idx[k] = append(idx[k], t)
	}
	for _, t := range r.Repeated {
		k := t.PaymentKey()
		idx[k] = append(idx[k], t)
	}
	for _, ts := range idx {
		if len(ts) > 1 {
			sort.Slice(ts, func(i, j int) bool { return ts[i].Index < ts[j].Index })
		}
	}
	if v.byPayment == nil {
		v.byPayment = map[*Replica]map[string][]Transfer{}
	}
	v.byPayment[r] = idx
	return idx
}

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

// keyedJournal reports whether some entry of the replica serves a payment key other than its own
// id (a scan without allocation, kept on the view), so checkers that look payments up by id need
// the payment index only when it can differ.
func (v *view) keyedJournal(r *Replica) bool {
	if k, ok := v.keyed[r]; ok {
		return k
	}
	k := false
	for _, t := range r.Transfers {
		if t.Payment != "" && t.Payment != t.ID {
			k = true
			break
		}
	}
	if v.keyed == nil {
		v.keyed = map[*Replica]bool{}
	}
	v.keyed[r] = k
	return k
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

// committedFor returns the committed entries of the replica that served payment key k.
func (v *view) committedFor(r *Replica, k string) []Transfer {
	var out []Transfer
	for _, t := range v.paymentEntries(r)[k] {
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
