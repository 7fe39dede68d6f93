package load

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"paylab/outcome"
	"paylab/results"
)

func testWorkload() Workload {
	return Workload{
		Accounts:   1000,
		Mix:        Mix{Transfer: 0.8, Read: 0.15, StaleRead: 0.05},
		Zipf:       1.1,
		Duplicates: 0.05,
		Regions:    []string{"us-east", "eu-west", "ap-south"},
		Seed:       42,
		IDPrefix:   "run1-",
	}
}

func TestWorkloadMixSkewAndRegions(t *testing.T) {
	w := testWorkload()
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	types := map[results.OpType]int{}
	regions := make([]int, len(w.Regions))
	hot := 0 // operations touching the 10 hottest accounts
	for seq := range uint64(n) {
		p := w.Plan(seq)
		types[p.Type]++
		regions[p.Region]++
		acc := p.Account
		if p.Type == results.OpTransfer {
			acc = p.Transfer.From
			if p.Transfer.From == p.Transfer.To || p.Transfer.Amount < 1 || p.Transfer.Amount > 100 {
				t.Fatalf("bad transfer %+v", p.Transfer)
			}
		}
		if acc < 10 {
			hot++
		}
	}
	near := func(got int, share float64) bool { return float64(got) > share*n*0.9 && float64(got) < share*n*1.1 }
	if !near(types[results.OpTransfer], 0.8) || !near(types[results.OpRead], 0.15) || !near(types[results.OpStaleRead], 0.05) {
		t.Errorf("mix %v, want 80/15/5%%", types)
	}
	for i, c := range regions {
		if !near(c, 1.0/3) {
			t.Errorf("region %s got %d of %d", w.Regions[i], c, n)
		}
	}
	// Uniform would put 1% on the 10 hottest accounts; Zipf 1.1 puts far more.
	if hot < n/5 {
		t.Errorf("%d of %d operations on the 10 hottest accounts: Zipf skew missing", hot, n)
	}
	w.Zipf = 0
	hot = 0
	for seq := range uint64(n) {
		if p := w.Plan(seq); p.Type == results.OpTransfer && p.Transfer.From < 10 {
			hot++
		}
	}
	if hot > n/40 {
		t.Errorf("uniform choice put %d of %d transfers on 10 of 1000 accounts", hot, n)
	}
}

func TestWorkloadDuplicatesResubmitTheSameKeyAndBody(t *testing.T) {
	w := testWorkload()
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	bodies := map[string]Transfer{}
	dups, transfers := 0, 0
	for seq := range uint64(20_000) {
		p := w.Plan(seq)
		if p.Type != results.OpTransfer {
			continue
		}
		transfers++
		if p != w.Plan(seq) {
			t.Fatalf("plan of %d is not deterministic", seq)
		}
		if prev, ok := bodies[p.Transfer.ID]; ok {
			if prev != p.Transfer {
				t.Fatalf("key %s resubmitted with another body: %+v vs %+v", p.Transfer.ID, prev, p.Transfer)
			}
			if !p.Duplicate {
				t.Fatalf("key %s repeated without being marked a duplicate", p.Transfer.ID)
			}
			dups++
		} else if p.Duplicate {
			t.Fatalf("seq %d marked duplicate but its key %s was never sent before", seq, p.Transfer.ID)
		}
		bodies[p.Transfer.ID] = p.Transfer
	}
	if share := float64(dups) / float64(transfers); share < 0.035 || share > 0.06 {
		t.Errorf("duplicate share %.3f, want ≈0.05", share)
	}
}

// fakeLedger is an in-memory Target with the ledger's rules: idempotent by id, no negative
// balances.
type fakeLedger struct {
	mu       sync.Mutex
	balances []int64
	applied  map[string]Transfer
	calls    int
}

func (f *fakeLedger) Transfer(ctx context.Context, region int, t Transfer) Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if _, ok := f.applied[t.ID]; ok {
		return Outcome{Kind: outcome.OK}
	}
	if f.balances[t.From] < t.Amount {
		return Outcome{Kind: outcome.Rejected, Reason: "insufficient_funds"}
	}
	f.balances[t.From] -= t.Amount
	f.balances[t.To] += t.Amount
	f.applied[t.ID] = t
	return Outcome{Kind: outcome.OK}
}

func (f *fakeLedger) Read(ctx context.Context, region int, account int, stale bool) Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Outcome{Kind: outcome.OK, Detail: results.OpDetail{Amount: f.balances[account]}}
}

func TestWorkloadDrivesATargetAndFillsTheHistory(t *testing.T) {
	w := testWorkload()
	w.Accounts = 20
	f := &fakeLedger{balances: make([]int64, 20), applied: map[string]Transfer{}}
	for i := range f.balances {
		f.balances[i] = 500
	}
	op, err := w.Op(f)
	if err != nil {
		t.Fatal(err)
	}
	// Virtual time (synctest): exactly 400 requests are due and sent whatever the machine's load.
	var (
		rep  *Report
		hist *results.History
	)
	synctest.Test(t, func(t *testing.T) {
		hist = results.NewHistory(time.Now(), 1000)
		var err error
		rep, err = Run(context.Background(), Config{Pacer: ConstantPacer{Rate: 2000}, Duration: 200 * time.Millisecond, History: hist}, op)
		if err != nil {
			t.Fatal(err)
		}
	})
	if rep.Requests != 400 || hist.Len() != 400 {
		t.Fatalf("sent %d, history %d; want 400", rep.Requests, hist.Len())
	}
	var sum int64
	for _, b := range f.balances {
		sum += b
	}
	if sum != 20*500 {
		t.Errorf("money not conserved by the fake: %d", sum)
	}
	keys := map[uint64]int{}
	for _, o := range hist.Ops() {
		switch o.Type {
		case results.OpTransfer:
			keys[o.Key]++
			if o.From == o.To || o.Amount < 1 {
				t.Fatalf("history transfer without its body: %+v", o)
			}
		case results.OpRead, results.OpStaleRead:
			if o.Amount < 0 || o.Amount > 20*500 {
				t.Fatalf("read recorded an impossible balance: %+v", o)
			}
		default:
			t.Fatalf("history op of type %v", o.Type)
		}
	}
	dup := 0
	for _, n := range keys {
		if n > 1 {
			dup++
		}
	}
	if dup == 0 {
		t.Error("no key appears twice in the history: resubmissions missing")
	}
}

func TestWorkloadRejectsBadFields(t *testing.T) {
	for _, w := range []Workload{
		{Accounts: 1},
		{Accounts: 10, Zipf: 0.5},
		{Accounts: 10, Duplicates: 2},
		{Accounts: 10, MinAmount: 10, MaxAmount: 5},
		{Accounts: 10, IDPrefix: "bad id"},
		{Accounts: 10, Mix: Mix{Transfer: -1}},
	} {
		if err := w.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", w)
		}
	}
}
