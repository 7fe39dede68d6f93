package assertions

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"paylab/outcome"
	"paylab/results"
)

// The read checker (reads_linearizable) judges every answered read of the history against the
// ledger's own commit order, in O(n log n), so that reads are judged at any history size
// (porcupine's search, in linearizable, is exponential in the concurrency and gives up on real
// runs).
//
// Where the rule comes from. Linearizability (Herlihy & Wing, "Linearizability: a correctness
// condition for concurrent objects", TOPLAS 1990) asks for one total order of the operations
// that respects real time — an operation that returned before another was invoked comes first
// — and in which every read returns the value the object holds at its place in the order. A
// raft ledger supplies the order itself: the log. Every transfer is decided at a journal
// index (a group-committed batch shares one index, and states inside a batch are never
// visible), so the state after index i is well defined, and a correct read-index read returns
// the state at some index i. The checker therefore does not search for an order (as
// Knossos and porcupine do) but takes the journal's, as Jepsen's bank workload judges reads
// against the bank's states and Elle infers orders from the database's own version order; a
// failure is a read that fits no place in the commit order the ledger itself recorded — which
// is what strict serializability in commit order forbids, and what a correct read-index ledger
// never does.
//
// The window of a read R sent at R.sent and answered at R.done, on account a, seeing x:
//
//   - lo(R) = the highest journal index of a transfer acknowledged (committed or rejected by
//     the ledger) before R.sent: the ack is a return that precedes R's invocation, so the
//     transfer precedes R in any real-time order and R must see its index. Any account's
//     transfer counts: the journal is one order over all accounts.
//   - hi(R) = one less than the lowest journal index of a transfer whose every submission was
//     sent after R.done: R returned before it was invoked, so R precedes it. (An entry created
//     after R was served is appended after every index R could have read.)
//   - R is legal when a held x at some index i with lo(R) ≤ i ≤ hi(R), and i is at least the
//     index given to every read that returned before R was sent (real time between reads; in
//     particular a client's later read never sees an older index than its earlier one:
//     monotonic reads, Terry et al. 1994). Taking for each read, in order of sending, the
//     smallest legal index is optimal: later reads are only ever bounded from below.
//
// Stale reads (results.OpStaleRead: the ledger's ?stale=true, served by any replica, possibly
// far behind) are judged by the weaker rule a lagging replica still obeys: x is a balance a
// held at some index i ≤ hi(R) — a committed state, not one invented and not one from the
// future. Their order is not judged, and they bound no other read.
//
// What it cannot see: the journal is taken from the readable replica with the highest applied
// index; money and journal agreement are no_double_deduct's and no_lost_ack's. Blind balance
// writes change the rebuilt balances but bound no read (the history does not tie a write to
// its payment's acknowledgement). Transfer outcomes against funds are linearizable's
// (porcupine's) business on small histories.

// readsChecker is the name of the read checker in the catalogue.
const readsChecker = "reads_linearizable"

// readChange is the balance of a read account after a journal index.
type readChange struct {
	acct int32 // dense number of the account among those read
	bal  int64
	idx  uint64
}

// readBound ties a moment of the history to a journal index: an acknowledgement (lo) or a
// first submission (hi), with the operation for evidence.
type readBound struct {
	at  time.Duration
	idx uint64
	op  int // index into v.ops
}

// readLedger is the journal rebuilt for the accounts that were read: each account's balance
// after every index that changed it.
type readLedger struct {
	byAcct []readChange // by (acct, idx); each account's run starts with its opening balance at index 0
	start  []int        // byAcct[start[a]:start[a+1]] is account a's run
	byVal  []readChange // by (acct, bal, idx), built on first need (see first)
}

// scanLimit bounds the changes first walks before it looks the balance up by value instead: a
// read's window usually spans a few changes of its account, and the value index costs a sort.
const scanLimit = 32

func (l *readLedger) run(a int32) []readChange { return l.byAcct[l.start[a]:l.start[a+1]] }

// at0 returns the position in run of the change in force after index i.
func at0(run []readChange, i uint64) int {
	return sort.Search(len(run), func(k int) bool { return run[k].idx > i }) - 1 // ≥ 0: runs start at index 0
}

// valRange returns the changes of account a that set balance x, in index order.
func (l *readLedger) valRange(a int32, x int64) []readChange {
	if l.byVal == nil {
		l.byVal = slices.Clone(l.byAcct)
		slices.SortFunc(l.byVal, func(x, y readChange) int {
			return cmp.Or(cmp.Compare(x.acct, y.acct), cmp.Compare(x.bal, y.bal), cmp.Compare(x.idx, y.idx))
		})
	}
	lo, _ := slices.BinarySearchFunc(l.byVal, readChange{acct: a, bal: x}, func(c, t readChange) int {
		return cmp.Or(cmp.Compare(c.acct, t.acct), cmp.Compare(c.bal, t.bal))
	})
	hi := lo
	for hi < len(l.byVal) && l.byVal[hi].acct == a && l.byVal[hi].bal == x {
		hi++
	}
	return l.byVal[lo:hi]
}

// first returns the smallest index i in [from, to] at which account a held x: O(log n), plus
// at most scanLimit steps, else a lookup by value.
func (l *readLedger) first(a int32, x int64, from, to uint64) (uint64, bool) {
	if from > to {
		return 0, false
	}
	run := l.run(a)
	k := at0(run, from)
	if run[k].bal == x {
		return from, true
	}
	for j := k + 1; j < len(run) && run[j].idx <= to; j++ {
		if run[j].bal == x {
			return run[j].idx, true
		}
		if j-k == scanLimit {
			vs := l.valRange(a, x)
			n := sort.Search(len(vs), func(n int) bool { return vs[n].idx > from })
			if n < len(vs) && vs[n].idx <= to {
				return vs[n].idx, true
			}
			return 0, false
		}
	}
	return 0, false
}

// lastBefore returns the largest index i ≤ to at which account a held x: O(log n), plus at
// most scanLimit steps back, else a lookup by value.
func (l *readLedger) lastBefore(a int32, x int64, to uint64) (uint64, bool) {
	run := l.run(a)
	k := at0(run, to)
	if run[k].bal == x {
		return to, true
	}
	for j := k - 1; j >= 0; j-- { // x held from run[j].idx until run[j+1].idx - 1
		if run[j].bal == x {
			return run[j+1].idx - 1, true
		}
		if k-j == scanLimit {
			vs := l.valRange(a, x)
			n := sort.Search(len(vs), func(n int) bool { return vs[n].idx > to }) - 1
			if n < 0 {
				return 0, false
			}
			return run[at0(run, vs[n].idx)+1].idx - 1, true
		}
	}
	return 0, false
}

// readPlace is what the checker found for one read: its smallest legal index, or none.
type readPlace struct {
	idx uint64
	ok  bool
}

const noIndex = ^uint64(0)

func buildReads(*params) (checkFunc, error) { return checkReads, nil }

// checkReads is the reads_linearizable checker (see the comment at the top of this file).
func checkReads(v *view) results.AssertionResult {
	rs := answeredReads(v)
	if len(rs.ops) == 0 {
		return undecided(readsChecker, fmt.Errorf("the history holds no answered read, so no read can be judged"))
	}
	rep := newestReplica(v)
	if acked := acknowledgedTransfers(v); len(rep.Transfers) == 0 && len(rep.Writes) == 0 && acked > 0 {
		return undecided(readsChecker, fmt.Errorf("%s exports no journal, yet the history has %d acknowledged transfers: the commit order is unknown", nodeName(rep), acked))
	}
	opening, err := v.openingBalances()
	if err != nil {
		return undecided(readsChecker, err)
	}
	// Three independent passes over a million records; the lab's machine has two cores.
	var (
		led     *readLedger
		entries int
		journal []keyedEntry
		keys    []historyKey
	)
	concurrently(
		func() { led, entries = rebuildReadLedger(v, rep, rs.accts, opening) },
		func() { journal = journalByKey(rep) },
		func() { keys = historyKeys(v) },
	)
	acks, sends, missing := readBounds(v, rep, keys, journal)
	j := newReadJudge(v, led, rs.dense, acks, sends)
	j.judgeAll(rs.ops)
	return j.result(rs, rep, entries, missing)
}

// readSet is the history's answered reads (indexes into v.ops) and the accounts they read, numbered
// densely.
type readSet struct {
	ops   []int
	dense map[uint32]int32
	accts []uint32
	stale int // how many of ops are stale reads
}

func answeredReads(v *view) readSet {
	rs := readSet{dense: map[uint32]int32{}}
	for i := range v.ops {
		op := &v.ops[i]
		if (op.Type != results.OpRead && op.Type != results.OpStaleRead) || op.Kind != outcome.OK {
			continue
		}
		rs.ops = append(rs.ops, i)
		if op.Type == results.OpStaleRead {
			rs.stale++
		}
		if _, ok := rs.dense[op.From]; !ok {
			rs.dense[op.From] = int32(len(rs.accts))
			rs.accts = append(rs.accts, op.From)
		}
	}
	return rs
}

// newestReplica is the journal the reads are judged against: the readable replica with the highest
// applied index.
func newestReplica(v *view) *Replica {
	replicas, _ := v.readable()
	rep := replicas[0]
	for _, r := range replicas[1:] {
		if r.AppliedIndex > rep.AppliedIndex {
			rep = r
		}
	}
	return rep
}

func acknowledgedTransfers(v *view) int {
	acked := 0
	for i := range v.ops {
		if op := &v.ops[i]; op.Type == results.OpTransfer && op.Kind == outcome.OK {
			acked++
		}
	}
	return acked
}

// readJudge places every read, in order of sending, at the smallest legal index of the journal, and
// explains each read that fits nowhere.
type readJudge struct {
	v     *view
	led   *readLedger
	dense map[uint32]int32
	acks  []readBound // by ack time
	sends []readBound // by send time
	// ackMax[k] indexes the maximum of acks[:k+1]; sendMin[k] the minimum of sends[k:].
	ackMax, sendMin []int
	placed          []readPlace // by operation: the smallest legal index of each read
	clients         map[uint16]*clientLast
	rtMax           uint64 // the highest index of a read that returned before the current one was sent
	rtOp            int    // the read that set rtMax, -1 when none

	never, stale, back, future *violations
}

// clientLast is the last read a client had placed.
type clientLast struct {
	op   int
	idx  uint64
	done time.Duration
	set  bool
}

// readWindow is what bounds one read: lo and hi from the transfers around it in real time (with the
// operations that set them, -1 when none), and from, the floor that earlier reads add (clientFloor is
// the part of it the client's own earlier read sets, from clientOp).
type readWindow struct {
	lo, hi            uint64
	loOp, hiOp        int
	from, clientFloor uint64
	clientOp          int
}

func newReadJudge(v *view, led *readLedger, dense map[uint32]int32, acks, sends []readBound) *readJudge {
	j := &readJudge{v: v, led: led, dense: dense, acks: acks, sends: sends,
		ackMax: make([]int, len(acks)), sendMin: make([]int, len(sends)),
		placed: make([]readPlace, len(v.ops)), clients: map[uint16]*clientLast{}, rtOp: -1,
		never:  &violations{what: "reads of a balance the account never held"},
		stale:  &violations{what: "stale reads: a balance older than a change acknowledged before the read was sent"},
		back:   &violations{what: "reads that went back: older than a read that finished before they began"},
		future: &violations{what: "reads from the future: a balance set only by a transfer sent after the read returned"},
	}
	// Prefix maxima of acknowledged indexes (by ack time) and suffix minima of first-sent indexes
	// (by send time), with the operation that sets each.
	for k := range acks {
		j.ackMax[k] = k
		if k > 0 && acks[j.ackMax[k-1]].idx >= acks[k].idx {
			j.ackMax[k] = j.ackMax[k-1]
		}
	}
	for k := len(sends) - 1; k >= 0; k-- {
		j.sendMin[k] = k
		if k+1 < len(sends) && sends[j.sendMin[k+1]].idx <= sends[k].idx {
			j.sendMin[k] = j.sendMin[k+1]
		}
	}
	return j
}

// judgeAll judges the reads in order of sending; before each, every linearizable read that returned
// before it was sent raises the real-time floor.
func (j *readJudge) judgeAll(reads []int) {
	bySent, byDone := readOrders(j.v, reads)
	p := 0
	for _, ri := range bySent {
		r := &j.v.ops[ri]
		for p < len(byDone) && j.v.ops[byDone[p]].Done < r.Sent {
			if q := j.placed[byDone[p]]; q.ok && (j.rtOp < 0 || q.idx > j.rtMax) {
				j.rtMax, j.rtOp = q.idx, byDone[p]
			}
			p++
		}
		j.judge(ri)
	}
}

// readOrders sorts the reads by sending, and the linearizable ones (they bound later reads) by return.
func readOrders(v *view, reads []int) (bySent, byDone []int) {
	bySent = slices.Clone(reads)
	slices.SortFunc(bySent, func(a, b int) int { return cmp.Or(cmp.Compare(v.ops[a].Sent, v.ops[b].Sent), cmp.Compare(a, b)) })
	for _, i := range reads {
		if v.ops[i].Type == results.OpRead {
			byDone = append(byDone, i)
		}
	}
	slices.SortFunc(byDone, func(a, b int) int { return cmp.Or(cmp.Compare(v.ops[a].Done, v.ops[b].Done), cmp.Compare(a, b)) })
	return bySent, byDone
}

// judge places read ri, or records why it fits nowhere.
func (j *readJudge) judge(ri int) {
	r := &j.v.ops[ri]
	a, x := j.dense[r.From], r.Amount
	w := j.window(r)
	if r.Type != results.OpRead { // a stale read: any committed state up to hi, most likely a recent one
		if _, ok := j.led.lastBefore(a, x, w.hi); ok {
			return
		}
	} else if i, ok := j.led.first(a, x, w.from, w.hi); ok {
		j.placed[ri] = readPlace{idx: i, ok: true}
		cl := j.clients[r.Client]
		if cl == nil {
			cl = &clientLast{}
			j.clients[r.Client] = cl
		}
		*cl = clientLast{op: ri, idx: i, done: r.Done, set: true}
		return
	}
	j.explain(r, w)
}

// window bounds read r: lo, acknowledged before r was sent; hi, first sent after r returned; and for a
// linearizable read, from: no lower than lo, than any read that returned before r was sent, or than
// the client's own last read.
func (j *readJudge) window(r *results.Op) readWindow {
	w := readWindow{loOp: -1, hi: noIndex, hiOp: -1, clientOp: -1}
	if k := sort.Search(len(j.acks), func(k int) bool { return j.acks[k].at >= r.Sent }); k > 0 {
		b := j.acks[j.ackMax[k-1]]
		w.lo, w.loOp = b.idx, b.op
	}
	if k := sort.Search(len(j.sends), func(k int) bool { return j.sends[k].at > r.Done }); k < len(j.sends) {
		b := j.sends[j.sendMin[k]]
		w.hi, w.hiOp = b.idx-1, b.op
		if b.idx == 0 {
			w.hi = 0
		}
	}
	if r.Type != results.OpRead {
		return w
	}
	w.from = max(w.lo, j.rtMax)
	if cl := j.clients[r.Client]; cl != nil && cl.set && cl.done <= r.Sent {
		w.clientFloor, w.clientOp = cl.idx, cl.op
		w.from = max(w.from, w.clientFloor)
	}
	return w
}

// explain records why read r fits nowhere in its window: the most basic reason first.
func (j *readJudge) explain(r *results.Op, w readWindow) {
	v, a, x := j.v, j.dense[r.From], r.Amount
	who := fmt.Sprintf("read %s = %d by %s", v.accountID(r.From), x, opText(r))
	if len(j.led.valRange(a, x)) == 0 { // the opening balance is a change at index 0
		j.never.add(fmt.Sprintf("%s: %s never held %d (from index %d, where the read's window starts, it held %s)", who, v.accountID(r.From), x, w.from, j.led.heldText(a, w.from)), 1)
		return
	}
	last, heldBefore := j.led.lastBefore(a, x, w.hi)
	switch {
	case !heldBefore:
		firstIdx, _ := j.led.first(a, x, 0, noIndex-1)
		text := fmt.Sprintf("%s: %s held %d only from index %d", who, v.accountID(r.From), x, firstIdx)
		if w.hiOp >= 0 {
			text += fmt.Sprintf(", after %s (index %d), whose first submission was sent at %s, after the read returned", v.transfer(v.ops[w.hiOp].Key), w.hi+1, at(v.ops[w.hiOp].Sent))
		}
		j.future.add(text, float64(firstIdx-min(firstIdx, w.hi)))
	case w.lo > last && r.Type == results.OpRead:
		j.stale.add(fmt.Sprintf("%s: %s held %d up to index %d, but %s was acknowledged at %s, before the read was sent, and committed at index %d",
			who, v.accountID(r.From), x, last, v.transfer(v.ops[w.loOp].Key), at(v.ops[w.loOp].Done), w.lo), float64(w.lo-last))
	case w.clientFloor > last:
		j.back.add(fmt.Sprintf("%s: %s held %d up to index %d, but client %d's earlier read, %s, already saw index %d (non-monotonic client)",
			who, v.accountID(r.From), x, last, r.Client, opText(&v.ops[w.clientOp]), w.clientFloor), float64(w.clientFloor-last))
	default:
		j.back.add(fmt.Sprintf("%s: %s held %d up to index %d, but %s, which returned before this read was sent, saw index %d",
			who, v.accountID(r.From), x, last, readText(v, j.rtOp), j.rtMax), float64(j.rtMax-last))
	}
}

// result is the verdict over every read; transfers acknowledged but missing from the journal bound no
// read, so a clean run with them is unknown.
func (j *readJudge) result(rs readSet, rep *Replica, entries, missing int) results.AssertionResult {
	illegal := j.never.count + j.stale.count + j.back.count + j.future.count
	res := results.AssertionResult{
		Limit:   "every read returns a balance its account held at an index inside the read's real-time window of the ledger's commit order; reads never go back",
		Verdict: verdictOf(illegal),
		Observed: fmt.Sprintf("%d reads (%d stale) of %d accounts against %s's journal of %d entries; %d illegal",
			len(rs.ops), rs.stale, len(rs.accts), nodeName(rep), entries, illegal),
		Evidence: evidenceOf(j.never, j.stale, j.back, j.future),
	}
	if missing > 0 {
		note := fmt.Sprintf("%d transfers acknowledged committed are not in %s's journal (see no_lost_ack); they bound no read", missing, nodeName(rep))
		if res.Verdict == results.Pass {
			res.Verdict, res.Error = results.Undecided, note
		} else {
			res.Evidence = append(res.Evidence, "note: "+note)
		}
	}
	return res
}

func readText(v *view, i int) string {
	if i < 0 {
		return "an earlier read"
	}
	op := &v.ops[i]
	return fmt.Sprintf("read %s = %d by %s", v.accountID(op.From), op.Amount, opText(op))
}

// heldText lists the balances an account held from index i on (the change in force at i and
// the next few), for the evidence of a read of a balance it never held.
func (l *readLedger) heldText(a int32, i uint64) string {
	run := l.run(a)
	const show = 5
	k := at0(run, i)
	parts := make([]string, 0, show+1)
	for _, c := range run[k:min(len(run), k+show)] {
		parts = append(parts, fmt.Sprintf("%d from index %d", c.bal, c.idx))
	}
	if n := len(run) - k - show; n > 0 {
		parts = append(parts, fmt.Sprintf("… %d more changes", n))
	}
	return strings.Join(parts, ", ")
}

// rebuildReadLedger replays rep's journal (committed transfers, repeated entries and blind
// writes, by index) over the accounts that were read and returns their balances after every
// index that changed them, with the number of journal entries.
func rebuildReadLedger(v *view, rep *Replica, accts []uint32, opening func(uint32) int64) (*readLedger, int) {
	entries := len(rep.Transfers) + len(rep.Repeated) + len(rep.Writes)
	moves := readMoves(v, rep, accts, entries)
	changes := replayReadMoves(moves, accts, opening)
	return indexReadChanges(changes, len(accts)), entries
}

// readMove is one journal entry's effect on a read account.
type readMove struct {
	idx   uint64
	write bool // a blind write sets the balance; a transfer adds to it
	acct  int32
	delta int64
}

// readMoves is every effect of rep's journal on the read accounts, by index; transfers of an index
// before writes (a write is an entry of its own). Moves that tie commute: transfers of one index add
// up in any order.
func readMoves(v *view, rep *Replica, accts []uint32, entries int) []readMove {
	byName := make(map[string]int32, len(accts))
	for d, a := range accts {
		byName[v.accountID(a)] = int32(d)
	}
	moves := make([]readMove, 0, 2*entries)
	addTransfer := func(t *Transfer) {
		if !t.Committed() {
			return
		}
		if a, ok := byName[t.From]; ok {
			moves = append(moves, readMove{idx: t.Index, acct: a, delta: -t.Amount})
		}
		if a, ok := byName[t.To]; ok {
			moves = append(moves, readMove{idx: t.Index, acct: a, delta: t.Amount})
		}
	}
	for _, t := range rep.Transfers {
		addTransfer(&t)
	}
	for i := range rep.Repeated {
		addTransfer(&rep.Repeated[i])
	}
	for _, w := range rep.Writes {
		if a, ok := byName[w.Account]; ok {
			moves = append(moves, readMove{idx: w.Index, write: true, acct: a, delta: w.New})
		}
	}
	slices.SortFunc(moves, func(x, y readMove) int {
		if c := cmp.Compare(x.idx, y.idx); c != 0 || x.write == y.write {
			return c
		}
		if x.write {
			return 1
		}
		return -1
	})
	return moves
}

// replayReadMoves applies the moves to the opening balances and returns each account's balance at
// index 0 and after every index that touched it.
func replayReadMoves(moves []readMove, accts []uint32, opening func(uint32) int64) []readChange {
	bal := make([]int64, len(accts))
	for d, a := range accts {
		bal[d] = opening(a)
	}
	changes := make([]readChange, 0, len(moves)+len(accts))
	for d := range accts {
		changes = append(changes, readChange{acct: int32(d), bal: bal[d], idx: 0})
	}
	touched := make([]uint64, len(accts)) // the last index that touched the account, +1
	var group []int32
	flush := func(idx uint64) {
		for _, a := range group {
			changes = append(changes, readChange{acct: a, bal: bal[a], idx: idx})
		}
		group = group[:0]
	}
	for i, m := range moves {
		if i > 0 && moves[i-1].idx != m.idx {
			flush(moves[i-1].idx)
		}
		if m.write {
			bal[m.acct] = m.delta
		} else {
			bal[m.acct] += m.delta
		}
		if touched[m.acct] != m.idx+1 {
			touched[m.acct] = m.idx + 1
			group = append(group, m.acct)
		}
	}
	if len(moves) > 0 {
		flush(moves[len(moves)-1].idx)
	}
	return changes
}

// indexReadChanges lays the changes out by account, each account's run in index order. Index 0 is the
// opening state: a change recorded at index 0 (none should be) replaces it.
func indexReadChanges(changes []readChange, accounts int) *readLedger {
	led := &readLedger{byAcct: make([]readChange, len(changes)), start: make([]int, accounts+1)}
	for _, c := range changes {
		led.start[c.acct+1]++
	}
	for a := 1; a <= accounts; a++ {
		led.start[a] += led.start[a-1]
	}
	fill := slices.Clone(led.start[:accounts])
	for _, c := range changes { // stable: each account's changes stay in index order
		led.byAcct[fill[c.acct]] = c
		fill[c.acct]++
	}
	return led
}

// historyKey is everything the history says about one transfer key for the read checker: the
// operations that sent it first and acknowledged it first (-1 when none did), and whether an
// acknowledgement was a commit.
type historyKey struct {
	key        uint64
	first, ack int
	ok         bool
}

// historyKeys gathers the history's transfers by key, in key order: a sort, not a map (a
// million keys hash slowly), then each key's submissions read as one run.
func historyKeys(v *view) []historyKey {
	type sub struct {
		key uint64
		op  int
	}
	n := 0
	for i := range v.ops {
		if v.ops[i].Type == results.OpTransfer {
			n++
		}
	}
	subs := make([]sub, 0, n)
	for i := range v.ops {
		if v.ops[i].Type == results.OpTransfer {
			subs = append(subs, sub{key: v.ops[i].Key, op: i})
		}
	}
	slices.SortFunc(subs, func(a, b sub) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.op, b.op)
	})
	keys := make([]historyKey, 0, len(subs))
	for lo := 0; lo < len(subs); {
		k := historyKey{key: subs[lo].key, first: subs[lo].op, ack: -1}
		hi := lo
		for ; hi < len(subs) && subs[hi].key == k.key; hi++ {
			op := &v.ops[subs[hi].op]
			if op.Sent < v.ops[k.first].Sent {
				k.first = subs[hi].op
			}
			if op.Kind == outcome.OK || op.Kind == outcome.Rejected {
				k.ok = k.ok || op.Kind == outcome.OK
				if k.ack < 0 || op.Done < v.ops[k.ack].Done {
					k.ack = subs[hi].op
				}
			}
		}
		keys = append(keys, k)
		lo = hi
	}
	return keys
}

// readBounds joins the history's keys to rep's journal and returns the acknowledgements (each
// key's earliest OK or rejected answer) and first submissions (each key's earliest send) of
// the keys with a journal entry, by time, and how many keys acknowledged committed have none.
func readBounds(v *view, rep *Replica, keys []historyKey, journal []keyedEntry) (acks, sends []readBound, missing int) {
	acks = make([]readBound, 0, len(keys))
	sends = make([]readBound, 0, len(keys))
	j := 0
	for _, k := range keys {
		for j < len(journal) && journal[j].key < k.key {
			j++
		}
		var idx uint64
		found := false
		if j < len(journal) && journal[j].key == k.key && v.transfer(k.key) == journal[j].id {
			idx, found = journal[j].idx, true
		} else if t, in := rep.Transfers[v.transfer(k.key)]; in { // an id not of the form prefix+hex
			idx, found = t.Index, true
		} else if es := v.entriesFor(rep, v.transfer(k.key)); len(es) > 0 { // served under another ledger id
			idx, found = es[0].Index, true
		}
		if !found {
			if k.ok {
				missing++
			}
			continue
		}
		if k.ack >= 0 {
			acks = append(acks, readBound{at: v.ops[k.ack].Done, idx: idx, op: k.ack})
		}
		sends = append(sends, readBound{at: v.ops[k.first].Sent, idx: idx, op: k.first})
	}
	byTime := func(a, b readBound) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.op, b.op)
	}
	concurrently(func() { slices.SortFunc(acks, byTime) }, func() { slices.SortFunc(sends, byTime) })
	return acks, sends, missing
}

// concurrently runs the functions at once and returns when all have returned. A panic in any
// is raised again in the caller (where checkView turns it into an unknown verdict), after the
// others have finished, so no goroutine outlives the checker.
func concurrently(fs ...func()) {
	var wg sync.WaitGroup
	panics := make([]any, len(fs))
	for i, f := range fs[1:] {
		wg.Go(func() {
			defer func() { panics[i+1] = recover() }()
			f()
		})
	}
	func() {
		defer wg.Wait()
		fs[0]()
	}()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
}

// keyedEntry is a journal transfer whose id ends in 16 hex digits, read as a key.
type keyedEntry struct {
	key uint64
	idx uint64
	id  string
}

// journalByKey returns rep's transfers whose ids end in 16 lower-case hex digits (the form
// lab/load gives them, prefix + key), by that number. It is a guess, so a match is confirmed
// against the history's own naming (v.transfer) before use, and keys not matched this way are
// looked up by id: one pass and a sort instead of a million lookups in a map of a million ids.
func journalByKey(rep *Replica) []keyedEntry {
	out := make([]keyedEntry, 0, len(rep.Transfers))
	for id, t := range rep.Transfers {
		if k, ok := hexTail(id); ok {
			out = append(out, keyedEntry{key: k, idx: t.Index, id: id})
		}
	}
	slices.SortFunc(out, func(a, b keyedEntry) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// hexTail reads the last 16 characters of id as a lower-case hex number.
func hexTail(id string) (uint64, bool) {
	if len(id) < 16 {
		return 0, false
	}
	var k uint64
	for _, c := range []byte(id[len(id)-16:]) {
		switch {
		case c >= '0' && c <= '9':
			k = k<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			k = k<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return k, true
}
