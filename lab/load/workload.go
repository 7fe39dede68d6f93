package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"paylab/results"
)

// Transfer is one transfer the workload asks a Target to make. The same Key always comes with
// the same body, so a resubmission is a true duplicate (same idempotency key, same request).
type Transfer struct {
	ID     string // idempotency key: Workload.TransferID(Key)
	Key    uint64
	From   int // account index; Workload.AccountID names it
	To     int
	Amount int64 // minor units
}

// Target is what a workload drives: a ledger, a gateway, a simulation. region is the index of
// the client region the request comes from (into Workload.Regions), so a target can route it
// through that region's entry point. Implementations are called concurrently and must return
// soon after ctx is done. The Outcome's Detail is filled in by the workload; a Read should put
// the balance it saw in Detail.Amount.
type Target interface {
	Transfer(ctx context.Context, region int, t Transfer) Outcome
	Read(ctx context.Context, region int, account int, stale bool) Outcome
}

// Mix is the share of each operation type; the shares are normalised, so {9, 1} is 90%/10%.
type Mix struct {
	Transfer  float64
	Read      float64 // linearizable read
	StaleRead float64 // read from the local replica
}

// Workload turns a Target into an OpFunc: a deterministic stream of transfers and reads over
// Accounts accounts, uniform or Zipf-skewed (hot accounts), with a share of resubmissions of
// recent transfers under the same idempotency key, from several client regions.
//
// Every choice is a pure function of (Seed, seq), whatever the worker or the timing, so two
// runs with one seed offer the same operations, and a resubmission can regenerate the body of
// the transfer it repeats without keeping state.
type Workload struct {
	Accounts int     // accounts acc-0 … acc-(Accounts-1); at least 2
	Mix      Mix     // default: transfers only
	Zipf     float64 // Zipf exponent s > 1 skews choices toward low-numbered (hot) accounts; 0 is uniform
	// Duplicates is the share (0–1) of transfers that resubmit one of the last DuplicateWindow
	// transfers with the same key and body.
	Duplicates      float64
	DuplicateWindow uint64 // default 1,000
	MinAmount       int64  // minor units; default 1
	MaxAmount       int64  // minor units; default 100
	Regions         []string
	Seed            uint64
	// IDPrefix starts every transfer id (ids are IDPrefix + 16 hex digits of the key, so they
	// sort in send order, as the ledger's dedupe index wants). Use a per-run prefix.
	IDPrefix string
}

// Validate fills defaults and checks every field, naming it in the error.
func (w *Workload) Validate() error {
	if w.Accounts < 2 || w.Accounts > math.MaxUint32 {
		return fmt.Errorf("workload: Accounts %d must be 2..%d (a transfer needs two accounts)", w.Accounts, uint32(math.MaxUint32))
	}
	m := w.Mix
	if m.Transfer < 0 || m.Read < 0 || m.StaleRead < 0 {
		return fmt.Errorf("workload: Mix %+v has a negative share", m)
	}
	if m.Transfer+m.Read+m.StaleRead == 0 {
		w.Mix = Mix{Transfer: 1}
	}
	if w.Zipf != 0 && !(w.Zipf > 1) {
		return fmt.Errorf("workload: Zipf %g must be > 1 (or 0 for uniform)", w.Zipf)
	}
	if w.Duplicates < 0 || w.Duplicates > 1 {
		return fmt.Errorf("workload: Duplicates %g must be within 0..1", w.Duplicates)
	}
	if w.DuplicateWindow == 0 {
		w.DuplicateWindow = 1000
	}
	if w.MinAmount == 0 {
		w.MinAmount = 1
	}
	if w.MaxAmount == 0 {
		w.MaxAmount = max(100, w.MinAmount)
	}
	if w.MinAmount < 1 || w.MaxAmount < w.MinAmount {
		return fmt.Errorf("workload: amounts %d..%d must satisfy 1 ≤ MinAmount ≤ MaxAmount", w.MinAmount, w.MaxAmount)
	}
	if len(w.Regions) == 0 {
		w.Regions = []string{"local"}
	}
	if len(w.Regions) > 255 {
		return fmt.Errorf("workload: %d regions, at most 255", len(w.Regions))
	}
	if w.IDPrefix == "" {
		w.IDPrefix = "t"
	}
	if len(w.IDPrefix) > 40 {
		return fmt.Errorf("workload: IDPrefix %q is longer than 40 bytes", w.IDPrefix)
	}
	for _, c := range w.IDPrefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("workload: IDPrefix %q may use only [A-Za-z0-9_.-]", w.IDPrefix)
		}
	}
	return nil
}

// AccountID names account i.
func AccountID(i int) string { return fmt.Sprintf("acc-%d", i) }

// TransferID is the idempotency key of transfer key.
func (w *Workload) TransferID(key uint64) string { return fmt.Sprintf("%s%016x", w.IDPrefix, key) }

// Planned is one operation as the workload plans it for a sequence number.
type Planned struct {
	Type      results.OpType // OpTransfer, OpRead or OpStaleRead
	Region    int
	Transfer  Transfer // for transfers
	Account   int      // for reads
	Duplicate bool     // a resubmission of an earlier key
}

// head replays the first draws for seq: its region, its type and, for a transfer, whether it
// resubmits an earlier key. The rest of seq's draws continue from the returned source.
func (w *Workload) head(seq uint64) (r *rand.Rand, typ results.OpType, region int, dup bool) {
	r = rand.New(rand.NewPCG(w.Seed, seq^0x9e3779b97f4a7c15))
	region = r.IntN(len(w.Regions))
	total := w.Mix.Transfer + w.Mix.Read + w.Mix.StaleRead
	switch x := r.Float64() * total; {
	case x < w.Mix.Transfer:
		typ = results.OpTransfer
		dup = w.Duplicates > 0 && seq > 0 && r.Float64() < w.Duplicates
	case x < w.Mix.Transfer+w.Mix.Read:
		typ = results.OpRead
	default:
		typ = results.OpStaleRead
	}
	return r, typ, region, dup
}

// Plan returns the operation for seq. It is deterministic in (Seed, seq). Call Validate first.
// A resubmission repeats the key and body of a fresh transfer among the DuplicateWindow
// before it; when the one drawn was not a fresh transfer, seq sends a fresh transfer instead.
func (w *Workload) Plan(seq uint64) Planned {
	r, typ, region, dup := w.head(seq)
	p := Planned{Type: typ, Region: region}
	if typ != results.OpTransfer {
		p.Account = w.account(r)
		return p
	}
	if dup {
		k := seq - (1 + r.Uint64N(min(w.DuplicateWindow, seq)))
		if _, ktyp, _, kdup := w.head(k); ktyp == results.OpTransfer && !kdup {
			p.Transfer, p.Duplicate = w.transfer(k), true
			return p
		}
	}
	p.Transfer = w.transfer(seq)
	return p
}

// transfer is the body of transfer key: a function of (Seed, key) only.
func (w *Workload) transfer(key uint64) Transfer {
	r := rand.New(rand.NewPCG(w.Seed^0x5bd1e995, key))
	from := w.account(r)
	to := w.account(r)
	for i := 0; to == from && i < 16; i++ {
		to = w.account(r)
	}
	if to == from {
		to = (from + 1) % w.Accounts
	}
	return Transfer{
		ID:     w.TransferID(key),
		Key:    key,
		From:   from,
		To:     to,
		Amount: w.MinAmount + r.Int64N(w.MaxAmount-w.MinAmount+1),
	}
}

func (w *Workload) account(r *rand.Rand) int {
	if w.Zipf > 1 {
		return int(rand.NewZipf(r, w.Zipf, 1, uint64(w.Accounts-1)).Uint64())
	}
	return r.IntN(w.Accounts)
}

// Op returns the OpFunc that plays the workload against target. It validates w first.
func (w *Workload) Op(target Target) (OpFunc, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if target == nil {
		return nil, errors.New("workload: target is nil")
	}
	return func(ctx context.Context, seq uint64, worker int) Outcome {
		p := w.Plan(seq)
		var out Outcome
		d := results.OpDetail{Type: p.Type, Region: uint8(p.Region)}
		switch p.Type {
		case results.OpTransfer:
			out = target.Transfer(ctx, p.Region, p.Transfer)
			d.Key, d.From, d.To, d.Amount = p.Transfer.Key, uint32(p.Transfer.From), uint32(p.Transfer.To), p.Transfer.Amount
		default:
			out = target.Read(ctx, p.Region, p.Account, p.Type == results.OpStaleRead)
			d.From, d.Amount = uint32(p.Account), out.Detail.Amount
		}
		out.Detail = d
		return out
	}, nil
}
