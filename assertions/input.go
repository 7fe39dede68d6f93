package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"paylab/outcome"
	"paylab/results"
)

// Input is everything the checkers judge a run by. Offsets (windows, phases, events) count
// from Start; the history's own offsets are moved onto Start when its start differs. Fields a
// checker needs but finds empty make that checker's verdict unknown, never a pass.
type Input struct {
	// Start is the run's time base.
	Start time.Time
	// Accounts describes the opening balances: Count accounts of Balance minor units each.
	Accounts Accounts
	// History is the operation history of the load (nil when the run kept none).
	History *results.History
	// Replicas are the final states of the ledger nodes, one per node, readable or not.
	Replicas []Replica
	// Nodes names every ledger node the topology has, as their exports' headers name them (the
	// lab's ledger node ids, "us-east-a"). A node named here with no replica in Replicas counts as unreadable:
	// the money and convergence checkers are then unknown, naming it, never a pass. Nil takes
	// Replicas as the whole set (hand-made inputs); the lab always sets it.
	Nodes []string

	// Total is the run's figures over its whole length.
	Total results.Figures
	// Windows are the one-second figures, in order.
	Windows []results.Figures
	// Phases are the named stretches of the run, and PhaseFigures their figures (same order or
	// matched by name).
	Phases       []results.Phase
	PhaseFigures []results.Figures
	// Spans, when set, computes exact figures over any span (a *results.Recorder does).
	// Without it, a span that is not a recorded phase is judged from its windows, which gives
	// an upper bound of its percentiles: enough to pass, not to fail.
	Spans Spanner
	// Events are the faults, leader changes and other marks of the run.
	Events []results.Event
	// RequestTimeout is the workload's request timeout: the margin before the first fault where the
	// "steady" phase ends when the run recorded none (results.StandardPhases).
	RequestTimeout time.Duration

	// AccountID names account i of the history (default "acc-<i>", as lab/load names them).
	AccountID func(i uint32) string
	// TransferID names the transfer of idempotency key k (default "t" + 16 hex digits, as
	// lab/load names them with its default prefix). Set it to the workload's TransferID.
	TransferID func(key uint64) string
}

// Accounts are the accounts a scenario opens: acc-0 … acc-(Count-1) with Balance each.
type Accounts struct {
	Count   int
	Balance int64
}

// Spanner computes figures over a span of a run; *results.Recorder implements it.
type Spanner interface {
	Span(name string, from, to time.Duration) results.Figures
}

var _ Spanner = (*results.Recorder)(nil)

// view is an Input prepared once for all the checkers of a run: the history copied out and
// moved onto the run's time base, its well-formedness checked, and ids resolved.
type view struct {
	in        *Input
	ops       []results.Op
	historyOK error // why the history cannot be trusted, nil when it can
	dropped   uint64
	accountID func(uint32) string
	transfer  func(uint64) string
	byID      map[string]*submissions // transfers of the history by id, built on first use
	// missing are the expected nodes (Input.Nodes) with no replica in the input, in Nodes order.
	missing []string
	// byPayment indexes each replica's entries that serve another payment key than their id (see otherKeys).
	byPayment map[*Replica]map[string][]Transfer
	// writePayments are the payment keys of each replica's blind writes, built on first use.
	writePayments map[*Replica]map[string]bool
	// judged are the stretches the running timing checker based its verdict on (see judging).
	judged []span
}

// submissions is everything the history says about one idempotency key.
type submissions struct {
	key      uint64
	id       string
	from, to string
	amount   int64
	kinds    [4]int // by results.Kind
	firstOK  *results.Op
	firstRej *results.Op
	first    *results.Op
	reason   string
}

func (s *submissions) count() int { return s.kinds[0] + s.kinds[1] + s.kinds[2] + s.kinds[3] }

// maxHistoryProblems bounds the malformed records quoted when a history is refused.
const maxHistoryProblems = 3

func newView(in *Input) *view {
	v := &view{in: in, accountID: in.AccountID, transfer: in.TransferID}
	if v.accountID == nil {
		v.accountID = func(i uint32) string { return fmt.Sprintf("acc-%d", i) }
	}
	if v.transfer == nil {
		v.transfer = func(k uint64) string { return fmt.Sprintf("t%016x", k) }
	}
	if len(in.Nodes) > 0 {
		have := make(map[string]bool, len(in.Replicas))
		for i := range in.Replicas {
			have[in.Replicas[i].Node] = true
		}
		for _, n := range in.Nodes {
			if !have[n] {
				have[n] = true // a node named twice is missing once
				v.missing = append(v.missing, n)
			}
		}
	}
	if in.History == nil {
		v.historyOK = fmt.Errorf("the run kept no history")
		return v
	}
	v.ops = in.History.Ops()
	v.dropped = in.History.Dropped()
	if len(v.ops) == 0 {
		// An empty history proves nothing about the run: checkers that need it are unknown.
		v.historyOK = fmt.Errorf("the history is empty: no operation was kept (%d dropped)", v.dropped)
		return v
	}
	shift := time.Duration(0)
	if !in.Start.IsZero() {
		shift = in.History.Start().Sub(in.Start)
	}
	var problems []string
	bad := 0
	for i := range v.ops {
		op := &v.ops[i]
		op.Intended += shift
		op.Sent += shift
		op.Done += shift
		if op.Done < op.Sent || !op.Kind.Valid() {
			bad++
			if len(problems) < maxHistoryProblems {
				problems = append(problems, fmt.Sprintf("op %d: sent %v, done %v, outcome %v", op.Seq, op.Sent, op.Done, op.Kind))
			}
		}
	}
	if bad > 0 {
		v.historyOK = fmt.Errorf("%d malformed operations in the history (a return before its call or an invalid outcome): %s", bad, strings.Join(problems, "; "))
	}
	return v
}

// transfers indexes the history's transfers by id.
func (v *view) transfers() map[string]*submissions {
	if v.byID != nil {
		return v.byID
	}
	v.byID = map[string]*submissions{}
	for i := range v.ops {
		op := &v.ops[i]
		if op.Type != results.OpTransfer {
			continue
		}
		id := v.transfer(op.Key)
		s := v.byID[id]
		if s == nil {
			s = &submissions{key: op.Key, id: id, from: v.accountID(op.From), to: v.accountID(op.To), amount: op.Amount, first: op}
			v.byID[id] = s
		}
		if op.Kind.Valid() {
			s.kinds[op.Kind]++
		}
		switch op.Kind {
		case outcome.OK:
			if s.firstOK == nil || op.Done < s.firstOK.Done {
				s.firstOK = op
			}
		case outcome.Rejected:
			if s.firstRej == nil || op.Done < s.firstRej.Done {
				s.firstRej = op
				s.reason = v.in.History.Reason(*op)
			}
		}
		if op.Sent < s.first.Sent {
			s.first = op
		}
	}
	return v.byID
}

// sortedIDs returns the keys of the history's transfers in id order, so evidence is stable.
func sortedIDs(m map[string]*submissions) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// readable returns the replicas whose state is known, and a note naming the others: the
// replicas that could not be read and the expected nodes the input has no replica for.
func (v *view) readable() (ok []*Replica, unreadable []string) {
	defer func() {
		for _, n := range v.missing {
			unreadable = append(unreadable, n+": no replica in the input (an expected node was never exported)")
		}
	}()
	for i := range v.in.Replicas {
		r := &v.in.Replicas[i]
		if r.Readable() {
			ok = append(ok, r)
			continue
		}
		why := "no state"
		if r.Err != nil {
			why = r.Err.Error()
		}
		unreadable = append(unreadable, fmt.Sprintf("%s: %s", nodeName(r), why))
	}
	return ok, unreadable
}

func nodeName(r *Replica) string {
	if r.Node == "" {
		return "(unnamed node)"
	}
	return r.Node
}

// end is the last offset the run's figures reach.
func (v *view) end() time.Duration {
	e := v.in.Total.End
	if n := len(v.in.Windows); n > 0 {
		e = max(e, v.in.Windows[n-1].End)
	}
	for _, p := range v.in.Phases {
		e = max(e, p.End)
	}
	return e
}

// at formats an offset for evidence: "6.2s".
func at(d time.Duration) string { return d.Round(time.Millisecond).String() }

// opText names an operation for evidence.
func opText(op *results.Op) string {
	return fmt.Sprintf("op %d (client %d, sent %s, done %s, %s)", op.Seq, op.Client, at(op.Sent), at(op.Done), op.Kind)
}
