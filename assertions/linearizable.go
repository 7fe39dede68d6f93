package assertions

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"paylab/outcome"
	"paylab/results"
)

func buildLinearizable(p *params) (checkFunc, error) {
	maxOps, timeout := p.count("max_ops"), p.duration("timeout")
	if maxOps < 1 {
		return nil, fmt.Errorf("linearizable: max_ops: %d, want at least 1", maxOps)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("linearizable: timeout: %s, want more than 0", timeout)
	}
	return func(v *view) results.AssertionResult { return checkLinearizable(v, maxOps, timeout) }, nil
}

// The bank model porcupine checks against. Its state is a component's balances (by local
// index) and the transfers decided so far (by key: an idempotency key decides once, and a
// resubmission gets the first answer). Operations:
//   - transfer OK: committed now (from has the amount), or a resubmission of a committed key;
//   - transfer rejected for insufficient funds: rejected now (from lacks the amount), or a
//     resubmission of a rejected key; other rejections (conflict, rate limit) change nothing;
//   - transfer unknown (a timeout): any of those, or nothing — its return is open-ended;
//   - read OK: the balance seen is the balance.
type linOp struct {
	read     bool
	key      uint64
	from, to int // local indexes; the read's account in from
	amount   int64
	outcome  outcome.Kind
	funds    bool // a rejection for insufficient funds
	value    int64
	op       *results.Op
	describe string
}

type bankState struct {
	balances []int64
	decided  map[uint64]bool // key → committed (true) or rejected (false)
}

func (s bankState) with(key uint64, committed bool, from, to int, amount int64) bankState {
	n := bankState{balances: s.balances, decided: make(map[uint64]bool, len(s.decided)+1)}
	for k, c := range s.decided {
		n.decided[k] = c
	}
	n.decided[key] = committed
	if committed {
		n.balances = append([]int64(nil), s.balances...)
		n.balances[from] -= amount
		n.balances[to] += amount
	}
	return n
}

func bankStep(state, input, _ any) []any {
	s, o := state.(bankState), input.(*linOp)
	if o.read {
		if s.balances[o.from] == o.value {
			return []any{s}
		}
		return nil
	}
	committed, decided := s.decided[o.key]
	canPay := s.balances[o.from] >= o.amount
	switch o.outcome {
	case outcome.OK:
		if decided {
			if committed {
				return []any{s}
			}
			return nil
		}
		if canPay {
			return []any{s.with(o.key, true, o.from, o.to, o.amount)}
		}
		return nil
	case outcome.Rejected:
		if !o.funds {
			return []any{s}
		}
		if decided {
			if !committed {
				return []any{s}
			}
			return nil
		}
		if !canPay {
			return []any{s.with(o.key, false, 0, 0, 0)}
		}
		return nil
	}
	// Unknown: it may not have happened, or it happened (and was decided on the state then).
	if decided {
		return []any{s}
	}
	return []any{s, s.with(o.key, canPay, o.from, o.to, o.amount)}
}

func bankEqual(a, b any) bool {
	x, y := a.(bankState), b.(bankState)
	if len(x.balances) != len(y.balances) || len(x.decided) != len(y.decided) {
		return false
	}
	for i := range x.balances {
		if x.balances[i] != y.balances[i] {
			return false
		}
	}
	for k, c := range x.decided {
		if d, ok := y.decided[k]; !ok || d != c {
			return false
		}
	}
	return true
}

func bankHash(a any) uint64 {
	s := a.(bankState)
	h := fnv.New64a()
	var b [8]byte
	for _, v := range s.balances {
		for i := range b {
			b[i] = byte(uint64(v) >> (8 * i))
		}
		h.Write(b[:])
	}
	sum := h.Sum64()
	for k, c := range s.decided { // order-free: a sum of per-key mixes
		x := k*0x9e3779b97f4a7c15 + 1
		if c {
			x ^= 0xbf58476d1ce4e5b9
		}
		sum += x ^ (x >> 31)
	}
	return sum
}

// component is the operations over one set of accounts no transfer connects to another:
// each is linearizable on its own iff the whole history is.
type component struct {
	accounts []uint32 // local index → account index
	ops      []*linOp
}

// checkLinearizable partitions the history's reads and transfers by connected accounts and
// runs porcupine on each part, within max_ops and one shared timeout.
func checkLinearizable(v *view, maxOps int, timeout time.Duration) results.AssertionResult {
	relevant, opaque := bankOps(v)
	if opaque > 0 {
		return undecided("linearizable", fmt.Errorf("the history holds %d batch or generic operations, which the bank model cannot replay", opaque))
	}
	if len(relevant) > maxOps {
		return undecided("linearizable", fmt.Errorf("history too long for porcupine: %d reads and transfers > max_ops %d (reads_linearizable judges reads at any size)", len(relevant), maxOps))
	}
	opening, err := v.openingBalances()
	if err != nil {
		return undecided("linearizable", err)
	}
	comps := components(relevant, v)
	res := results.AssertionResult{
		Limit:    "a linearization exists on the bank model",
		Observed: fmt.Sprintf("%d reads and transfers in %d independent account groups", len(relevant), len(comps)),
	}
	deadline := time.Now().Add(timeout)
	timedOut, doneOps := 0, 0
	for _, c := range comps {
		left := time.Until(deadline)
		if left <= 0 {
			timedOut++
			continue
		}
		result, info := porcupine.CheckOperationsVerbose(bankModel(c, opening), bankHistory(c), left)
		switch result {
		case porcupine.Unknown:
			timedOut++
		case porcupine.Ok:
			doneOps += len(c.ops)
		case porcupine.Illegal:
			res.Verdict = results.Fail
			res.Observed = fmt.Sprintf("not linearizable: a group of %d accounts with %d operations has no linearization", len(c.accounts), len(c.ops))
			res.Evidence = illegalEvidence(c, info, v)
			return res
		}
	}
	if timedOut > 0 {
		res.Verdict = results.Undecided
		res.Error = fmt.Sprintf("porcupine did not finish %d of %d account groups within %s: it got through %d groups, %d of %d operations, all linearizable (reads_linearizable judges reads at any size)",
			timedOut, len(comps), timeout, len(comps)-timedOut, doneOps, len(relevant))
		return res
	}
	res.Verdict = results.Pass
	return res
}

// bankOps is the operations the bank model replays (transfers not definitely failed, answered reads),
// and how many batch or generic operations the history holds, which it cannot replay.
func bankOps(v *view) (relevant []*results.Op, opaque int) {
	for i := range v.ops {
		op := &v.ops[i]
		switch {
		case op.Type == results.OpTransfer && op.Kind != outcome.Failed,
			op.Type == results.OpRead && op.Kind == outcome.OK:
			relevant = append(relevant, op)
		case op.Type == results.OpBatch || op.Type == results.OpGeneric:
			opaque++
		}
	}
	return relevant, opaque
}

// bankModel is the bank model of one account group, starting from its opening balances.
func bankModel(c *component, opening func(uint32) int64) porcupine.Model {
	init := bankState{balances: make([]int64, len(c.accounts)), decided: map[uint64]bool{}}
	for i, a := range c.accounts {
		init.balances[i] = opening(a)
	}
	m := porcupine.NondeterministicModel{
		Init:  func() []any { return []any{init} },
		Step:  bankStep,
		Equal: bankEqual,
		Hash:  bankHash,
	}
	return m.ToModel()
}

// bankHistory is one account group's operations for porcupine; a transfer whose outcome is unknown
// may take effect at any time after its call.
func bankHistory(c *component) []porcupine.Operation {
	hist := make([]porcupine.Operation, len(c.ops))
	for i, o := range c.ops {
		ret := int64(o.op.Done)
		if !o.read && o.outcome == outcome.Unknown {
			ret = math.MaxInt64
		}
		hist[i] = porcupine.Operation{ClientId: int(o.op.Client), Input: o, Call: int64(o.op.Sent), Output: o.outcome, Return: ret}
	}
	return hist
}

// openingBalances returns each account's opening balance: from a readable replica when one has
// the account, else the scenario's.
func (v *view) openingBalances() (func(uint32) int64, error) {
	replicas, _ := v.readable()
	if len(replicas) == 0 && v.in.Accounts.Count == 0 {
		return nil, fmt.Errorf("the opening balances are unknown (no readable replica, no account figures)")
	}
	return func(i uint32) int64 {
		id := v.accountID(i)
		for _, r := range replicas {
			if a, ok := r.Accounts[id]; ok {
				return a.Initial
			}
		}
		return v.in.Accounts.Balance
	}, nil
}

// components groups operations by accounts connected through transfers (union-find).
func components(ops []*results.Op, v *view) []*component {
	parent := map[uint32]uint32{}
	var find func(uint32) uint32
	find = func(x uint32) uint32 {
		p, ok := parent[x]
		if !ok {
			parent[x] = x
			return x
		}
		if p != x {
			r := find(p)
			parent[x] = r
			return r
		}
		return x
	}
	for _, op := range ops {
		a := find(op.From)
		if op.Type == results.OpTransfer {
			if b := find(op.To); a != b {
				parent[b] = a
			}
		}
	}
	byRoot := map[uint32]*component{}
	local := map[uint32]int{}
	var out []*component
	for _, op := range ops {
		r := find(op.From)
		c := byRoot[r]
		if c == nil {
			c = &component{}
			byRoot[r] = c
			out = append(out, c)
		}
		idx := func(a uint32) int {
			if i, ok := local[a]; ok {
				return i
			}
			local[a] = len(c.accounts)
			c.accounts = append(c.accounts, a)
			return local[a]
		}
		o := &linOp{op: op, key: op.Key, outcome: op.Kind, from: idx(op.From)}
		if op.Type == results.OpRead {
			o.read, o.value = true, op.Amount
			o.describe = fmt.Sprintf("read %s = %d", v.accountID(op.From), op.Amount)
		} else {
			o.to, o.amount = idx(op.To), op.Amount
			reason := ""
			if op.Kind == outcome.Rejected {
				reason = v.in.History.Reason(*op)
				o.funds = reason == "insufficient_funds"
			}
			o.describe = fmt.Sprintf("transfer %s %s→%s %d: %s %s", v.transfer(op.Key), v.accountID(op.From), v.accountID(op.To), op.Amount, op.Kind, reason)
		}
		c.ops = append(c.ops, o)
	}
	return out
}

// illegalEvidence names the operations of a failing group that fit none of the longest
// partial linearizations porcupine found, in call order: the reads or transfers to look at.
func illegalEvidence(c *component, info porcupine.LinearizationInfo, v *view) []string {
	inLongest := map[int]bool{}
	if parts := info.PartialLinearizations(); len(parts) > 0 {
		longest := []int(nil)
		for _, l := range parts[0] {
			if len(l) > len(longest) {
				longest = l
			}
		}
		for _, id := range longest {
			inLongest[id] = true
		}
		out := &violations{what: fmt.Sprintf("operations outside the longest linearizable prefix (%d of %d linearized)", len(longest), len(c.ops))}
		idx := make([]int, 0, len(c.ops))
		for i := range c.ops {
			if !inLongest[i] {
				idx = append(idx, i)
			}
		}
		sort.Slice(idx, func(a, b int) bool { return c.ops[idx[a]].op.Sent < c.ops[idx[b]].op.Sent })
		for _, i := range idx {
			o := c.ops[i]
			out.add(fmt.Sprintf("%s — %s", o.describe, opText(o.op)), 0)
		}
		return append(out.lines(), accountsLine(c, v))
	}
	return []string{accountsLine(c, v)}
}

func accountsLine(c *component, v *view) string {
	names := make([]string, 0, min(len(c.accounts), MaxEvidence))
	for _, a := range c.accounts[:min(len(c.accounts), MaxEvidence)] {
		names = append(names, v.accountID(a))
	}
	return fmt.Sprintf("accounts in the group: %v (%d)", names, len(c.accounts))
}
