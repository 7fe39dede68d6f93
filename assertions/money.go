package assertions

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"paylab/outcome"
	"paylab/results"
)

// byNode gathers the same violation seen on several replicas into one line naming them all,
// so a bug replicated to three nodes reads as one finding, not three.
type byNode struct {
	order []string
	nodes map[string][]string
	score map[string]float64
}

func newByNode() *byNode {
	return &byNode{nodes: map[string][]string{}, score: map[string]float64{}}
}

func (b *byNode) add(text, node string, score float64) {
	if _, ok := b.nodes[text]; !ok {
		b.order = append(b.order, text)
		b.score[text] = score
	}
	b.nodes[text] = append(b.nodes[text], node)
}

// into renders the gathered violations into v, in the order first seen.
func (b *byNode) into(v *violations, replicas int) {
	for _, text := range b.order {
		nodes := b.nodes[text]
		where := "on " + strings.Join(capList(nodes, 3), ", ")
		if len(nodes) == replicas && replicas > 1 {
			where = "on every replica"
		}
		v.add(text+" "+where, b.score[text])
	}
}

func sortedAccounts(m map[string]Account) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// checkNoDoubleDeduct audits each replica's journal against the history:
//   - at most one ledger entry per transfer id, and at most one committed entry per payment key
//     across all ledger ids (a retry reissued under a new ledger id is two entries for one key);
//   - every committed entry matches the history payment of its key with the same from/to/amount (a
//     different body fails); a committed entry no history payment asked for is an orphan, which
//     fails when the history is whole and makes the verdict unknown when it is not (the payment may
//     simply be unrecorded);
//   - no blind write overwrote a balance its writer had not read (a lost update: the version it
//     read is not the one it overwrote), visible from the journal alone;
//   - every balance equals its opening balance plus the committed transfers and the intended
//     effect of each blind-write payment. A payment's intended effect comes from the history; a
//     payment the history does not know is taken at face value (its writes' own deltas), which
//     hides a lost update only when its writes did not say what they read.
func checkNoDoubleDeduct(v *view) results.AssertionResult {
	replicas, unreadable := v.readable()
	d := newDoubleDeduct(v)
	for _, r := range replicas {
		node := nodeName(r)
		d.repeatedEntries(r, node)
		d.chargedMoreThanOnce(r, node)
		d.entriesAgainstHistory(r, node)
		expected := committedJournal(r)
		d.blindWrites(r, node, expected)
		d.balancesAgainstJournal(r, node, expected)
	}
	return partialReplicas(d.result(len(replicas)), unreadable)
}

// doubleDeduct gathers no_double_deduct's findings over every replica: per check, what each replica
// shows (byNode), rendered into the check's violations once every replica is read.
type doubleDeduct struct {
	v    *view
	hist map[string]*submissions // the history's payments by key; empty when the history cannot be read

	rep, ch, bd, orph, lu, jr *byNode
	faceValue, unverified     int              // blind-write payments not in the history; those that did not say what they read
	orphansOver               int              // orphans past maxOrphanFindings on one replica, counted only
	offAccounts               map[string]int64 // account → diff, first replica that shows it
}

func newDoubleDeduct(v *view) *doubleDeduct {
	d := &doubleDeduct{v: v, hist: map[string]*submissions{}, offAccounts: map[string]int64{},
		rep: newByNode(), ch: newByNode(), bd: newByNode(), orph: newByNode(), lu: newByNode(), jr: newByNode()}
	if v.historyOK == nil {
		d.hist = v.transfers()
	}
	return d
}

// repeatedEntries: more than one ledger entry under one transfer id.
func (d *doubleDeduct) repeatedEntries(r *Replica, node string) {
	for _, t := range r.Repeated {
		d.rep.add(fmt.Sprintf("%s: another %s entry at index %d (%s→%s %d)", t.ID, t.Status, t.Index, t.From, t.To, t.Amount), node, 1)
	}
}

// chargedMoreThanOnce: more than one committed entry for one payment key. Only keys with an entry the
// journal's map does not hold under that key can have two.
func (d *doubleDeduct) chargedMoreThanOnce(r *Replica, node string) {
	other := d.v.otherKeys(r)
	keys := make([]string, 0, len(other))
	for k := range other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if committed := d.v.committedFor(r, k); len(committed) > 1 {
			text := fmt.Sprintf("payment %s: %d committed entries: %s", k, len(committed), entriesText(committed))
			if s, ok := d.hist[k]; ok {
				text += fmt.Sprintf("; the history asked for %s once (%d submissions)", s.body(), s.count())
			}
			d.ch.add(text, node, float64(len(committed)))
		}
	}
}

// entryFinding is a committed entry that differs from its history payment, or has none (an orphan).
type entryFinding struct {
	id, text string
	score    float64
	orphan   bool
}

// entriesAgainstHistory holds every committed entry against its history payment; findings are sorted
// by id so evidence is stable (the journal is a map, and sorting only the findings keeps a clean run
// cheap).
func (d *doubleDeduct) entriesAgainstHistory(r *Replica, node string) {
	var found []entryFinding
	orphansFound, over := 0, 0
	for id, t := range r.Transfers {
		if !t.Committed() {
			continue
		}
		k := t.PaymentKey()
		s, ok := d.hist[k]
		switch {
		case ok && !s.sameBody(t):
			found = append(found, entryFinding{id: id, score: math.Abs(float64(t.Amount - s.amount)),
				text: fmt.Sprintf("%s committed %s→%s %d at index %d; payment %s asked for %s (%s)", t.ID, t.From, t.To, t.Amount, t.Index, k, s.body(), opText(s.first))})
		case !ok && orphansFound >= maxOrphanFindings:
			over++ // counted, not listed: a run without its history has nothing but orphans
		case !ok:
			orphansFound++
			found = append(found, entryFinding{id: id, score: float64(t.Amount), orphan: true,
				text: fmt.Sprintf("%s: committed, no history payment %s", entryText(t), k)})
		}
	}
	d.orphansOver = max(d.orphansOver, over) // replicas usually agree: the most any one shows
	sort.Slice(found, func(i, j int) bool { return found[i].id < found[j].id })
	for _, f := range found {
		if f.orphan {
			d.orph.add(f.text, node, f.score)
		} else {
			d.bd.add(f.text, node, f.score)
		}
	}
}

// committedJournal is every account's opening balance plus the committed transfers.
func committedJournal(r *Replica) map[string]int64 {
	expected := map[string]int64{}
	for id, a := range r.Accounts {
		expected[id] = a.Initial
	}
	for _, t := range r.Transfers {
		if t.Committed() {
			expected[t.From] -= t.Amount
			expected[t.To] += t.Amount
		}
	}
	return expected
}

// blindPayment is the blind writes of one payment, in journal order.
type blindPayment struct {
	writes    []Write
	seen      map[string]int
	unchecked bool // some write did not say what it read
}

// blindWrites groups the blind writes by payment, reports second writes and lost updates, and adds
// each payment's intended effect to expected: the history's payment, or the writes' own deltas.
func (d *doubleDeduct) blindWrites(r *Replica, node string, expected map[string]int64) {
	payments, order := d.blindPayments(r, node)
	for _, id := range order {
		p := payments[id]
		if t, ok := r.Transfers[id]; ok && t.Committed() {
			d.rep.add(fmt.Sprintf("%s: both a committed transfer (index %d) and %d blind writes", id, t.Index, len(p.writes)), node, 1)
		}
		if s, ok := d.hist[id]; ok {
			expected[s.from] -= s.amount
			expected[s.to] += s.amount
			continue
		}
		d.faceValue++
		if p.unchecked {
			d.unverified++
		}
		for _, w := range p.writes {
			expected[w.Account] += w.New - w.Old
		}
	}
}

// blindPayments groups r's blind writes by payment in journal order, reporting a second write to one
// account within a payment and every write over a balance its writer had not read.
func (d *doubleDeduct) blindPayments(r *Replica, node string) (map[string]*blindPayment, []string) {
	payments := map[string]*blindPayment{}
	var order []string
	for _, w := range r.Writes {
		p := payments[w.Payment]
		if p == nil {
			p = &blindPayment{seen: map[string]int{}}
			payments[w.Payment] = p
			order = append(order, w.Payment)
		}
		p.writes = append(p.writes, w)
		p.seen[w.Account]++
		if !w.Checked() {
			p.unchecked = true
		}
		if p.seen[w.Account] == 2 {
			d.rep.add(fmt.Sprintf("payment %s: a second blind write to %s at index %d", w.Payment, w.Account, w.Index), node, 1)
		}
		if w.Stale() {
			d.lu.add(staleWriteText(w), node, math.Abs(float64(w.Old-readBalance(w))))
		}
	}
	return payments, order
}

// balancesAgainstJournal: every balance equals what its journal says, and every account the journal
// moves money through exists.
func (d *doubleDeduct) balancesAgainstJournal(r *Replica, node string, expected map[string]int64) {
	ids := make([]string, 0, len(expected))
	for id := range expected {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a, ok := r.Accounts[id]
		switch {
		case !ok:
			d.jr.add(fmt.Sprintf("%s: the journal moves %+d through an account that does not exist", id, expected[id]), node, math.Abs(float64(expected[id])))
		case a.Balance != expected[id]:
			diff := a.Balance - expected[id]
			d.jr.add(fmt.Sprintf("%s: balance %d, opening %d + journal %+d = %d (off by %+d)", id, a.Balance, a.Initial, expected[id]-a.Initial, expected[id], diff),
				node, math.Abs(float64(diff)))
			if _, seen := d.offAccounts[id]; !seen {
				d.offAccounts[id] = diff
			}
		}
	}
}

// appliedTwice names each acknowledged key submitted more than once that touches an account off its
// journal: the likeliest culprit, so the evidence points at transfer ids.
func (d *doubleDeduct) appliedTwice() *violations {
	twice := &violations{what: "duplicate submissions that touch an account off its journal (likely applied twice)"}
	if len(d.offAccounts) == 0 {
		return twice
	}
	for _, id := range sortedIDs(d.hist) {
		s := d.hist[id]
		if s.count() < 2 || s.kinds[outcome.OK] == 0 {
			continue
		}
		dFrom, fromOff := d.offAccounts[s.from]
		dTo, toOff := d.offAccounts[s.to]
		if !fromOff && !toOff {
			continue
		}
		text := fmt.Sprintf("%s submitted %d times (%d acknowledged), %s→%s %d; %s off by %+d, %s off by %+d",
			id, s.count(), s.kinds[outcome.OK], s.from, s.to, s.amount, s.from, dFrom, s.to, dTo)
		score := 0.0
		if dFrom == -s.amount*int64(s.count()-1) || dTo == s.amount*int64(s.count()-1) {
			score = 1 // the difference is exactly the extra applications
		}
		twice.add(text, score)
	}
	return twice
}

// result renders every finding into the verdict. Orphans fail only when the history is whole; when it
// is not, they (and blind-write payments that did not say what they read) make a clean run unknown.
func (d *doubleDeduct) result(replicas int) results.AssertionResult {
	repeated := &violations{what: "idempotency keys with more than one ledger entry"}
	charged := &violations{what: "payment keys with more than one committed ledger entry (charged more than once)"}
	body := &violations{what: "committed entries whose body differs from the payment the history asked for"}
	orphans := &violations{what: "committed entries no history payment asked for (orphans)"}
	lost := &violations{what: "blind writes over a balance the writer had not read (lost updates)"}
	journal := &violations{what: "balances that differ from opening balance + committed journal"}
	d.rep.into(repeated, replicas)
	d.ch.into(charged, replicas)
	d.bd.into(body, replicas)
	d.lu.into(lost, replicas)
	d.jr.into(journal, replicas)
	gap := d.v.historyGap()
	orphanGap := gap
	if n := d.v.opaqueOps(); orphanGap == "" && n > 0 {
		orphanGap = fmt.Sprintf("the history holds %d batch or generic operations whose transfers it does not itemize", n)
	}
	if orphanGap == "" {
		d.orph.into(orphans, replicas)
		orphans.count += d.orphansOver
	}
	twice := d.appliedTwice()
	bad := repeated.count + charged.count + body.count + orphans.count + lost.count + journal.count
	res := results.AssertionResult{
		Verdict: verdictOf(bad),
		Observed: doubleDeductObserved(bad, twice.count, replicas, []finding{{repeated.count, "keys with more than one entry"},
			{charged.count, "payments charged more than once"}, {body.count, "wrong bodies"}, {orphans.count, "orphans"},
			{lost.count, "lost updates"}, {journal.count, "balances off their journal"}}),
		Limit:    "one entry per key; one committed entry per payment key, with the body the history asked for; no blind write over an unread balance; balance = opening + committed journal",
		Evidence: evidenceOf(charged, repeated, body, orphans, lost, journal, twice),
	}
	d.unknownOrphans(&res, orphanGap, replicas)
	d.faceValueNote(&res, gap)
	return res
}

// unknownOrphans: an entry the history does not know may be a payment the history did not keep.
func (d *doubleDeduct) unknownOrphans(res *results.AssertionResult, orphanGap string, replicas int) {
	if orphanGap == "" || len(d.orph.order) == 0 {
		return
	}
	unknownOrphans := &violations{what: "committed entries the history does not show (it may not have kept their payments)"}
	d.orph.into(unknownOrphans, replicas)
	unknownOrphans.count += d.orphansOver
	res.Evidence = append(res.Evidence, unknownOrphans.lines()...)
	if res.Verdict == results.Pass {
		res.Verdict = results.Undecided
		res.Error = fmt.Sprintf("%d committed entries could not be held against the history: %s", unknownOrphans.count, orphanGap)
	}
}

// faceValueNote says how many blind-write payments were taken at face value. A lost update through a
// blind write that did not record what it read hides in new−old: only the history's payment can show
// it, and this one may be among what the history lacks.
func (d *doubleDeduct) faceValueNote(res *results.AssertionResult, gap string) {
	if d.faceValue == 0 {
		return
	}
	res.Evidence = append(res.Evidence, fmt.Sprintf("note: %d blind-write payments not in the history were taken at face value (%d of them with writes that did not say what they read)", d.faceValue, d.unverified))
	if d.unverified > 0 && gap != "" && res.Verdict == results.Pass {
		res.Verdict = results.Undecided
		res.Error = fmt.Sprintf("%d blind-write payments could not be held against the history: %s", d.unverified, gap)
	}
}

// finding is one count a checker's observed line reports.
type finding struct {
	n    int
	what string
}

// doubleDeductObserved is no_double_deduct's observed line: every count when nothing was found, else the
// counts that found something first (a reader of a failing run must not read "0 payments charged more than
// once" first when balances show a payment applied twice), then the resubmitted ids the balances show
// applied again, then the checks that found nothing.
func doubleDeductObserved(bad, twice, replicas int, fs []finding) string {
	var hit, clean []string
	for _, f := range fs {
		if f.n > 0 {
			hit = append(hit, fmt.Sprintf("%d %s", f.n, f.what))
		} else {
			clean = append(clean, fmt.Sprintf("0 %s", f.what))
		}
	}
	over := fmt.Sprintf(" over %d replicas", replicas)
	if bad == 0 {
		return strings.Join(clean, ", ") + over
	}
	if twice > 0 {
		hit = append(hit, fmt.Sprintf("%d resubmitted ids whose balances show them applied more than once", twice))
	}
	if len(clean) == 0 {
		return strings.Join(hit, ", ") + over
	}
	return strings.Join(hit, ", ") + over + " (and " + strings.Join(clean, ", ") + ")"
}

// maxOrphanFindings bounds the orphans described one by one per replica; more are only counted.
const maxOrphanFindings = 1000

// readBalance is the balance a write's writer read (its Old when it did not say).
func readBalance(w Write) int64 {
	if w.ReadBalance != nil {
		return *w.ReadBalance
	}
	return w.Old
}

// staleWriteText names a lost update for evidence.
func staleWriteText(w Write) string {
	text := fmt.Sprintf("payment %s: blind write of %s to %d at index %d", w.Payment, w.Account, w.New, w.Index)
	if w.ReadVersion != nil && w.OldVersion != nil {
		return text + fmt.Sprintf(" read version %d (balance %d) but overwrote version %d (balance %d): %d changes it never saw were lost",
			*w.ReadVersion, readBalance(w), *w.OldVersion, w.Old, int64(*w.OldVersion)-int64(*w.ReadVersion))
	}
	return text + fmt.Sprintf(" read balance %d but overwrote %d (%+d lost)", readBalance(w), w.Old, w.Old-readBalance(w))
}

// partialReplicas turns a pass into unknown when some replicas could not be read: what was
// read is fine, the rest is not known. A failure stays a failure.
func partialReplicas(res results.AssertionResult, unreadable []string) results.AssertionResult {
	if len(unreadable) == 0 {
		return res
	}
	if res.Verdict == results.Pass {
		res.Verdict = results.Undecided
		res.Error = fmt.Sprintf("%d replicas could not be read: %s", len(unreadable), strings.Join(capList(unreadable, 3), "; "))
	} else {
		res.Evidence = append(res.Evidence, fmt.Sprintf("note: %d replicas could not be read", len(unreadable)))
	}
	return res
}

// checkConservation sums each replica's balances: transfers only move money, so the sum must
// equal accounts × opening balance. Blind writes can create or destroy money; a payment whose
// writes do not net to zero is named.
func checkConservation(v *view) results.AssertionResult {
	replicas, unreadable := v.readable()
	sums := &violations{what: "replicas whose balances do not sum to the money issued"}
	opening := &violations{what: "accounts missing or opened with another balance"}
	created := &violations{what: "blind-write payments that do not net to zero"}
	op, cr := newByNode(), newByNode()
	want := int64(v.in.Accounts.Count) * v.in.Accounts.Balance
	if v.in.Accounts.Count > 0 && want/int64(v.in.Accounts.Count) != v.in.Accounts.Balance {
		return undecided("conservation", fmt.Errorf("accounts × balance (%d × %d) overflows int64", v.in.Accounts.Count, v.in.Accounts.Balance))
	}
	var observed []string
	for _, r := range replicas {
		node := nodeName(r)
		var sum, initial int64
		for _, id := range sortedAccounts(r.Accounts) {
			a := r.Accounts[id]
			var ok1, ok2 bool
			sum, ok1 = addChecked(sum, a.Balance)
			initial, ok2 = addChecked(initial, a.Initial)
			if !ok1 || !ok2 {
				return undecided("conservation", fmt.Errorf("the balances of %s overflow int64", node))
			}
			if v.in.Accounts.Count > 0 && a.Initial != v.in.Accounts.Balance {
				op.add(fmt.Sprintf("%s opened with %d, the scenario says %d", id, a.Initial, v.in.Accounts.Balance), node, math.Abs(float64(a.Initial-v.in.Accounts.Balance)))
			}
		}
		expect := want
		if v.in.Accounts.Count == 0 {
			expect = initial // the scenario's figures are not known: trust the replica's opening balances
		} else if len(r.Accounts) != v.in.Accounts.Count {
			op.add(fmt.Sprintf("%d accounts where the scenario opened %d", len(r.Accounts), v.in.Accounts.Count), node, float64(v.in.Accounts.Count))
		}
		if sum != expect {
			sums.add(fmt.Sprintf("%s: sum %d, issued %d (%+d)", node, sum, expect, sum-expect), math.Abs(float64(sum-expect)))
		}
		if len(observed) < 3 {
			observed = append(observed, fmt.Sprintf("%s %d", node, sum))
		}
		net := map[string]int64{}
		var order []string
		detail := map[string][]string{}
		for _, w := range r.Writes {
			if _, ok := net[w.Payment]; !ok {
				order = append(order, w.Payment)
			}
			net[w.Payment] += w.New - w.Old
			if len(detail[w.Payment]) < 4 {
				detail[w.Payment] = append(detail[w.Payment], fmt.Sprintf("%s %d→%d", w.Account, w.Old, w.New))
			}
		}
		for _, p := range order {
			if net[p] != 0 {
				cr.add(fmt.Sprintf("payment %s: blind writes net %+d (%s)", p, net[p], strings.Join(detail[p], ", ")), node, math.Abs(float64(net[p])))
			}
		}
	}
	op.into(opening, len(replicas))
	cr.into(created, len(replicas))
	limit := fmt.Sprintf("= %d (%d accounts × %d)", want, v.in.Accounts.Count, v.in.Accounts.Balance)
	if v.in.Accounts.Count == 0 {
		limit = "= the sum of the replica's opening balances"
	}
	res := results.AssertionResult{
		Verdict:  verdictOf(sums.count + opening.count),
		Observed: "sum " + strings.Join(observed, ", "),
		Limit:    limit,
		Evidence: evidenceOf(sums, opening, created),
	}
	return partialReplicas(res, unreadable)
}

func addChecked(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return s, false
	}
	return s, true
}

// checkNoNegativeBalance looks for a balance below zero on any replica, and for a blind write
// that set one.
func checkNoNegativeBalance(v *view) results.AssertionResult {
	replicas, unreadable := v.readable()
	neg := &violations{what: "negative balances"}
	b := newByNode()
	lowest := int64(0)
	for _, r := range replicas {
		node := nodeName(r)
		for _, id := range sortedAccounts(r.Accounts) {
			a := r.Accounts[id]
			if a.Balance < 0 {
				b.add(fmt.Sprintf("%s: balance %d", id, a.Balance), node, float64(-a.Balance))
				lowest = min(lowest, a.Balance)
			}
		}
		for _, w := range r.Writes {
			if w.New < 0 {
				b.add(fmt.Sprintf("%s: blind write of payment %s set %d at index %d", w.Account, w.Payment, w.New, w.Index), node, float64(-w.New))
				lowest = min(lowest, w.New)
			}
		}
	}
	b.into(neg, len(replicas))
	res := results.AssertionResult{
		Verdict:  verdictOf(neg.count),
		Observed: fmt.Sprintf("%d negative balances, lowest %d", neg.count, lowest),
		Limit:    "≥ 0",
		Evidence: evidenceOf(neg),
	}
	return partialReplicas(res, unreadable)
}
