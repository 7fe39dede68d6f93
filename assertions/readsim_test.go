package assertions_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// sim describes a synthetic run of a correct ledger: operations sent at a steady pace by
// clients that each wait for their previous answer, transfers that take effect at a moment
// inside their call (group-committed in batches that share a journal index), and reads that
// return the state at a moment inside theirs. Everything is a function of the seed.
type sim struct {
	ops      int
	accounts int
	reads    float64       // share of reads
	stale    float64       // share of reads that are ?stale=true
	unknown  float64       // share of transfers whose outcome the client never learnt
	gap      time.Duration // between two sends
	latency  time.Duration // the longest call
	clients  int           // gap × clients must exceed latency: a client's calls never overlap
	seed     uint64
}

// simOp is one planned operation and the moment it takes effect.
type simOp struct {
	op     results.Op
	effect time.Duration
	commit bool // a transfer that reaches the journal
}

// run plays the simulation and returns its history (in completion order) and the replica a
// correct ledger would export.
func (s sim) run() (*results.History, assertions.Replica) {
	r := rand.New(rand.NewPCG(s.seed, 0x5eed))
	names := make([]string, s.accounts)
	for i := range names {
		names[i] = fmt.Sprintf("acc-%d", i)
	}
	ops := make([]simOp, s.ops)
	for i := range ops {
		sent := time.Duration(i) * s.gap
		lat := time.Duration(1 + r.Int64N(int64(s.latency)))
		o := results.Op{Seq: uint64(i), Intended: sent, Sent: sent, Done: sent + lat, Items: 1, Client: uint16(i % s.clients)}
		effect := sent + time.Duration(r.Int64N(int64(lat)))
		if r.Float64() < s.reads {
			o.Type = results.OpRead
			if r.Float64() < s.stale {
				o.Type = results.OpStaleRead
			}
			o.From = uint32(r.IntN(s.accounts))
			ops[i] = simOp{op: o, effect: effect}
			continue
		}
		o.Type, o.Key = results.OpTransfer, uint64(i+1)
		o.From = uint32(r.IntN(s.accounts))
		o.To = (o.From + 1 + uint32(r.IntN(s.accounts-1))) % uint32(s.accounts)
		o.Amount = 1 + r.Int64N(300)
		commit := true
		if r.Float64() < s.unknown {
			o.Kind = outcome.Unknown
			commit = r.IntN(2) == 0
			effect = sent + time.Duration(r.Int64N(int64(2*s.latency))) // may commit after the client gave up
		}
		ops[i] = simOp{op: o, effect: effect, commit: commit}
	}
	// Apply in effect order: committed transfers in batches of 1–8 sharing an index, applied
	// at the effect of the batch's last member and before any member is answered; reads see
	// every batch applied before them.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ops[a].effect, ops[b].effect) })
	rep := assertions.Replica{Node: "ledger:sim", Live: true, StateHash: "sim",
		Accounts: make(map[string]assertions.Account, s.accounts), Transfers: make(map[string]assertions.Transfer, s.ops)}
	bal := make([]int64, s.accounts)
	for i := range bal {
		bal[i] = 1000
	}
	index := uint64(s.accounts) // the accounts' own entries
	var batch []int
	apply := func() {
		if len(batch) == 0 {
			return
		}
		index++
		last := ops[batch[len(batch)-1]].effect
		for _, k := range batch {
			o := &ops[k].op
			t := assertions.Transfer{ID: tid(o.Key), From: names[o.From], To: names[o.To], Amount: o.Amount, Index: index, Status: assertions.StatusCommitted}
			if bal[o.From] < o.Amount {
				t.Status, t.Reason = assertions.StatusRejected, "insufficient_funds"
				if o.Kind != outcome.Unknown {
					o.Kind = outcome.Rejected
				}
			} else {
				bal[o.From] -= o.Amount
				bal[o.To] += o.Amount
			}
			rep.Transfers[t.ID] = t
			if o.Kind != outcome.Unknown && o.Done <= last { // answered only once its batch applied
				o.Done = last + 1
			}
		}
		batch = batch[:0]
	}
	size := 1 + r.IntN(8)
	minDone := time.Duration(1<<63 - 1) // the earliest answer among the batch's acknowledged members
	for _, k := range order {
		so := &ops[k]
		switch {
		case so.op.Type == results.OpTransfer && so.commit:
			if len(batch) > 0 && so.effect >= minDone {
				apply() // a member would be answered before its batch applied
			}
			if len(batch) == 0 {
				minDone = 1<<63 - 1
			}
			if so.op.Kind != outcome.Unknown {
				minDone = min(minDone, so.op.Done)
			}
			batch = append(batch, k)
			if len(batch) == size {
				apply()
				size = 1 + r.IntN(8)
			}
		case so.op.Type != results.OpTransfer:
			apply() // a read sees the batch in progress only once applied
			so.op.Amount = bal[so.op.From]
		}
	}
	apply()
	// Clients wait for their answer: push a client's next send past a stretched answer.
	for i := range ops {
		if j := i - s.clients; j >= 0 && ops[i].op.Sent < ops[j].op.Done {
			panic(fmt.Sprintf("sim: client %d's calls overlap (gap × clients must exceed the latency plus batching)", ops[i].op.Client))
		}
	}
	rep.AppliedIndex = index
	for i, b := range bal {
		rep.Accounts[names[i]] = assertions.Account{ID: names[i], Balance: b, Initial: 1000}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ops[a].op.Done, ops[b].op.Done) })
	h := results.NewHistory(epoch, s.ops)
	for _, k := range order {
		reason := ""
		if ops[k].op.Kind == outcome.Rejected {
			reason = "insufficient_funds"
		}
		h.Add(ops[k].op, reason)
	}
	return h, rep
}

// simInput is the checkers' input for a simulated run.
func simInput(h *results.History, rep assertions.Replica, accounts int) *assertions.Input {
	return &assertions.Input{Start: epoch, Accounts: assertions.Accounts{Count: accounts, Balance: 1000}, History: h,
		Replicas: []assertions.Replica{rep}}
}

// simOf is a small, highly concurrent simulation for comparison with porcupine.
func simOf(seed uint64) sim {
	return sim{ops: 24, accounts: 3, reads: 0.4, unknown: 0.15, gap: time.Millisecond, latency: 3 * time.Millisecond, clients: 6, seed: seed}
}
