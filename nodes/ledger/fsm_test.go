package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// fsmHarness feeds raft log entries straight into a state machine, with indexes like raft's.
type fsmHarness struct {
	t     *testing.T
	fsm   *FSM
	index uint64
	log   []*raft.Log
}

func newHarness(t *testing.T) *fsmHarness {
	t.Helper()
	f, _, err := OpenFSM(filepath.Join(t.TempDir(), "state.db"), FSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(false) })
	return &fsmHarness{t: t, fsm: f}
}

func (h *fsmHarness) apply(data ...[]byte) []any {
	var logs []*raft.Log
	for _, d := range data {
		h.index++
		logs = append(logs, &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: d})
	}
	h.log = append(h.log, logs...)
	return h.fsm.ApplyBatch(logs)
}

func (h *fsmHarness) transfers(ts ...Transfer) []TransferResult {
	h.t.Helper()
	out := h.apply(encodeTransfers(ts))
	r, ok := out[0].(*TransfersResponse)
	if !ok {
		h.t.Fatalf("response %T %v", out[0], out[0])
	}
	return r.Results
}

func (h *fsmHarness) accounts(as ...Account) {
	h.t.Helper()
	h.apply(encodeAccounts(as))
}

func (h *fsmHarness) balance(id string) int64 {
	h.t.Helper()
	a, err := h.fsm.Account(id)
	if err != nil {
		h.t.Fatalf("account %s: %v", id, err)
	}
	return a.Balance
}

func TestTransferNeverDrivesBalanceNegative(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 100}, Account{"b", 0})
	res := h.transfers(
		Transfer{ID: "t1", From: "a", To: "b", Amount: 60},
		Transfer{ID: "t2", From: "a", To: "b", Amount: 60}, // only 40 left: rejected whole, not partial
		Transfer{ID: "t3", From: "a", To: "b", Amount: 40},
		Transfer{ID: "t4", From: "a", To: "b", Amount: 1},
	)
	want := []struct {
		status Status
		reason string
	}{{StatusCommitted, ""}, {StatusRejected, ReasonInsufficientFunds}, {StatusCommitted, ""}, {StatusRejected, ReasonInsufficientFunds}}
	for i, w := range want {
		if res[i].Status != w.status || res[i].Reason != w.reason {
			t.Errorf("transfer %d: got %s/%s, want %s/%s", i+1, res[i].Status, res[i].Reason, w.status, w.reason)
		}
	}
	if a, b := h.balance("a"), h.balance("b"); a != 0 || b != 100 {
		t.Fatalf("balances a=%d b=%d, want 0 and 100", a, b)
	}
}

func TestTransferRejectsUnknownAccountsAndOverflow(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 100}, Account{"rich", MaxBalance})
	res := h.transfers(Transfer{ID: "t1", From: "a", To: "nobody", Amount: 10}, Transfer{ID: "t2", From: "nobody", To: "a", Amount: 10}, Transfer{ID: "t3", From: "a", To: "rich", Amount: 10})
	for i, want := range []string{ReasonUnknownAccount, ReasonUnknownAccount, ReasonOverflow} {
		if res[i].Status != StatusRejected || res[i].Reason != want {
			t.Errorf("transfer %d: got %s/%s, want rejected/%s", i+1, res[i].Status, res[i].Reason, want)
		}
	}
	if h.balance("a") != 100 || h.balance("rich") != MaxBalance {
		t.Fatal("a rejected transfer changed a balance")
	}
}

func TestIdempotency(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 1000}, Account{"b", 0})
	first := h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 100})[0]
	if first.Status != StatusCommitted || first.Duplicate {
		t.Fatalf("first: %+v", first)
	}

	t.Run("same id and body returns the original result, marked duplicate", func(t *testing.T) {
		again := h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 100})[0]
		if !again.Duplicate || again.Status != StatusCommitted || again.Index != first.Index {
			t.Fatalf("again: %+v, want duplicate of %+v", again, first)
		}
		if h.balance("a") != 900 {
			t.Fatalf("a = %d after a duplicate, want 900", h.balance("a"))
		}
	})
	t.Run("same id with a different body is a conflict and applies nothing", func(t *testing.T) {
		c := h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 999})[0]
		if !c.Conflict || c.Reason != ReasonIDConflict {
			t.Fatalf("conflict: %+v", c)
		}
		if h.balance("a") != 900 || h.balance("b") != 100 {
			t.Fatal("a conflicting reuse changed a balance")
		}
	})
	t.Run("same id twice inside one batch applies once", func(t *testing.T) {
		res := h.transfers(Transfer{ID: "t2", From: "a", To: "b", Amount: 50}, Transfer{ID: "t2", From: "a", To: "b", Amount: 50}, Transfer{ID: "t2", From: "a", To: "b", Amount: 70})
		if res[0].Status != StatusCommitted || res[0].Duplicate {
			t.Fatalf("first in batch: %+v", res[0])
		}
		if !res[1].Duplicate || res[1].Index != res[0].Index {
			t.Fatalf("second in batch: %+v", res[1])
		}
		if !res[2].Conflict {
			t.Fatalf("third in batch: %+v", res[2])
		}
		if h.balance("a") != 850 {
			t.Fatalf("a = %d, want 850", h.balance("a"))
		}
	})
	t.Run("a rejected id stays rejected even when funds arrive later", func(t *testing.T) {
		r := h.transfers(Transfer{ID: "t3", From: "b", To: "a", Amount: 10_000})[0]
		if r.Reason != ReasonInsufficientFunds {
			t.Fatalf("%+v", r)
		}
		h.accounts(Account{"whale", 1_000_000})
		h.transfers(Transfer{ID: "fund", From: "whale", To: "b", Amount: 100_000})
		again := h.transfers(Transfer{ID: "t3", From: "b", To: "a", Amount: 10_000})[0]
		if again.Status != StatusRejected || !again.Duplicate {
			t.Fatalf("retry after funding: %+v", again)
		}
	})
}

func TestReplaySkipsAppliedEntries(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 100}, Account{"b", 0})
	h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 100})
	rejected := h.transfers(Transfer{ID: "t2", From: "a", To: "b", Amount: 50})[0]
	h.transfers(Transfer{ID: "refill", From: "b", To: "a", Amount: 100})
	if rejected.Reason != ReasonInsufficientFunds {
		t.Fatalf("setup: %+v", rejected)
	}
	before, _ := h.fsm.Summary()

	// Raft replays the whole log after a restart: every entry is at or below the stored index.
	out := h.fsm.ApplyBatch(h.log)
	for i, o := range out {
		if o != nil {
			t.Fatalf("replayed entry %d produced %v; it should have been skipped", i+1, o)
		}
	}
	after, _ := h.fsm.Summary()
	if before != after {
		t.Fatalf("replay changed the state: %+v → %+v", before, after)
	}

	// Rebuilding from the log alone (state file lost) decides every transfer the same way: t2 is still
	// rejected although a refilled a could now pay it.
	fresh := newHarness(t)
	fresh.fsm.ApplyBatch(h.log)
	_, res, err := fresh.fsm.LookupTransfer("t2")
	if err != nil || res.Status != StatusRejected || res.Reason != ReasonInsufficientFunds {
		t.Fatalf("t2 after rebuild: %+v %v", res, err)
	}
	rebuilt, _ := fresh.fsm.Summary()
	if rebuilt.Hash != before.Hash {
		t.Fatalf("rebuilt hash %s != original %s", rebuilt.Hash, before.Hash)
	}
}

// TestConservationProperty applies thousands of random operations — valid, overdrawing, duplicate,
// conflicting, to unknown accounts — in random batches, and checks after each batch that money is conserved,
// no balance is negative, every balance equals its opening balance plus its committed journal, and the state
// machine agrees with a simple model.
func TestConservationProperty(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			h := newHarness(t)
			const accounts = 20
			model := map[string]int64{}
			var total int64
			var as []Account
			for i := 0; i < accounts; i++ {
				id := fmt.Sprintf("acc-%d", i)
				bal := rng.Int64N(1000)
				as = append(as, Account{id, bal})
				model[id] = bal
				total += bal
			}
			h.accounts(as...)
			decided := map[string]Transfer{}
			var ids []string
			for batch := 0; batch < 150; batch++ {
				var ts []Transfer
				for j := rng.IntN(40) + 1; j > 0; j-- {
					tr := Transfer{
						ID:     fmt.Sprintf("t-%d-%d", batch, j),
						From:   fmt.Sprintf("acc-%d", rng.IntN(accounts+1)), // acc-20 does not exist
						To:     fmt.Sprintf("acc-%d", rng.IntN(accounts)),
						Amount: rng.Int64N(300) + 1,
					}
					if len(ids) > 0 && rng.IntN(10) == 0 { // resubmit an earlier id, sometimes with another body
						old := decided[ids[rng.IntN(len(ids))]]
						tr = old
						if rng.IntN(2) == 0 {
							tr.Amount++
						}
					}
					if tr.From == tr.To {
						continue
					}
					ts = append(ts, tr)
				}
				if len(ts) == 0 {
					continue
				}
				res := h.transfers(ts...)
				for i, r := range res {
					tr := ts[i]
					prev, seen := decided[tr.ID]
					switch {
					case seen && prev == tr:
						if !r.Duplicate {
							t.Fatalf("resubmitted %s not marked duplicate: %+v", tr.ID, r)
						}
					case seen:
						if !r.Conflict {
							t.Fatalf("conflicting reuse of %s not flagged: %+v", tr.ID, r)
						}
					default:
						decided[tr.ID] = tr
						ids = append(ids, tr.ID)
						_, fromOK := model[tr.From]
						wantCommit := fromOK && model[tr.From] >= tr.Amount
						if (r.Status == StatusCommitted) != wantCommit {
							t.Fatalf("%+v: got %s/%s, model says commit=%v", tr, r.Status, r.Reason, wantCommit)
						}
						if wantCommit {
							model[tr.From] -= tr.Amount
							model[tr.To] += tr.Amount
						}
					}
				}
				sum, err := h.fsm.Summary()
				if err != nil {
					t.Fatal(err)
				}
				if sum.TotalBalance != total {
					t.Fatalf("batch %d: total %d, want %d", batch, sum.TotalBalance, total)
				}
			}
			for id, want := range model {
				a, err := h.fsm.Account(id)
				if err != nil {
					t.Fatal(err)
				}
				if a.Balance != want || a.Balance < 0 {
					t.Fatalf("%s: balance %d, model %d", id, a.Balance, want)
				}
			}
			// Every balance = opening balance + committed journal.
			journal := map[string]int64{}
			for id := range decided {
				tr, r, err := h.fsm.LookupTransfer(id)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status == StatusCommitted {
					journal[tr.From] -= tr.Amount
					journal[tr.To] += tr.Amount
				}
			}
			for id := range model {
				a, _ := h.fsm.Account(id)
				if a.Balance != a.Initial+journal[id] {
					t.Fatalf("%s: balance %d != initial %d + journal %d", id, a.Balance, a.Initial, journal[id])
				}
			}
		})
	}
}

func TestBalanceWriteFencing(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 100})
	out := h.apply(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 70, Payment: "p1", Fence: 5}))
	if r := out[0].(BalanceWriteResult); !r.Applied || r.Old != 100 || r.New != 70 {
		t.Fatalf("first write: %+v", r)
	}
	out = h.apply(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 10, Payment: "p2", Fence: 4}))
	if r := out[0].(BalanceWriteResult); r.Applied || r.Reason != "stale_fence" {
		t.Fatalf("stale fence accepted: %+v", r)
	}
	if h.balance("a") != 70 {
		t.Fatalf("balance %d after a stale write, want 70", h.balance("a"))
	}
	out = h.apply(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 60, Payment: "p3", Fence: 0}))
	if r := out[0].(BalanceWriteResult); !r.Applied {
		t.Fatalf("unfenced write refused: %+v", r)
	}
}

func TestSnapshotRestoreReplacesState(t *testing.T) {
	src := newHarness(t)
	src.accounts(Account{"a", 100}, Account{"b", 0})
	src.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 30})
	snap, err := src.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	src.transfers(Transfer{ID: "t2", From: "a", To: "b", Amount: 30}) // after the snapshot: not in it
	var buf bytes.Buffer
	sink := &memSink{Buffer: &buf}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := newHarness(t)
	dst.accounts(Account{"zzz", 5}) // must be discarded
	if err := dst.fsm.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.fsm.Account("zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("restore kept old state: %v", err)
	}
	if dst.balance("a") != 70 || dst.fsm.AppliedIndex() != 2 {
		t.Fatalf("restored a=%d applied=%d, want 70 and 2", dst.balance("a"), dst.fsm.AppliedIndex())
	}
}

type memSink struct{ *bytes.Buffer }

func (memSink) ID() string    { return "mem" }
func (memSink) Cancel() error { return nil }
func (memSink) Close() error  { return nil }

func TestOpenRebuildsUnusableStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	f, rep, err := OpenFSM(path, FSMOptions{})
	if err != nil || !rep.Rebuilt {
		t.Fatalf("new file: %+v %v", rep, err)
	}
	f.Close(true)
	f, rep, err = OpenFSM(path, FSMOptions{})
	if err != nil || rep.Rebuilt || !rep.CleanShutdown {
		t.Fatalf("clean reopen: %+v %v", rep, err)
	}
	f.Close(false)
	// Garbage over the first pages: bbolt cannot open it; the file is moved aside and started empty.
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xAB}, 16384), 0o600); err != nil {
		t.Fatal(err)
	}
	f, rep, err = OpenFSM(path, FSMOptions{})
	if err != nil || !rep.Rebuilt || rep.AppliedIndex != 0 {
		t.Fatalf("corrupt reopen: %+v %v", rep, err)
	}
	f.Close(false)
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatalf("corrupt file not kept aside: %v", err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	ts := []Transfer{{ID: "01J0000000000000000000000", From: "acc-1", To: "acc-2", Amount: 1}, {ID: "x", From: "a", To: "b", Amount: MaxAmount}}
	c, err := decodeCommand(encodeTransfers(ts))
	if err != nil || c.kind != kindTransfers || len(c.transfers) != 2 || c.transfers[1] != ts[1] {
		t.Fatalf("transfers: %+v %v", c, err)
	}
	as := []Account{{"a", 0}, {"b", MaxBalance}}
	if c, err = decodeCommand(encodeAccounts(as)); err != nil || c.accounts[1] != as[1] {
		t.Fatalf("accounts: %+v %v", c, err)
	}
	w := BalanceWrite{Account: "a", Balance: 5, Payment: "p", Fence: 9}
	if c, err = decodeCommand(encodeBalanceWrite(w)); err != nil || c.write != w {
		t.Fatalf("write: %+v %v", c, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 2, 1}, {1, 9}, {1, 2, 0}, {1, 2, 1, 65}, append(encodeAccounts(as), 0)} {
		if _, err := decodeCommand(bad); err == nil {
			t.Errorf("decoded %v without error", bad)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeTransfers([]Transfer{{ID: "t", From: "a", To: "b", Amount: 5}}))
	f.Add(encodeTransfers([]Transfer{{ID: "t", From: "a", To: "b", Amount: 5, Payment: "p"}}))
	f.Add(encodeAccounts([]Account{{"a", 5}}))
	f.Add(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 1, Payment: "p", Fence: 2}))
	f.Add([]byte{1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		var again []byte
		switch c.kind {
		case kindTransfers:
			again = encodeTransfers(c.transfers)
		case kindCreateAccounts:
			again = encodeAccounts(c.accounts)
		case kindBalanceWrite:
			again = encodeBalanceWrite(c.write)
		}
		if !bytes.Equal(again, b) {
			// Varints have one canonical form only when minimal; accept non-minimal input by decoding again.
			c2, err := decodeCommand(again)
			if err != nil || fmt.Sprint(c2) != fmt.Sprint(c) {
				t.Fatalf("re-encoding changed the command: %v vs %v (%v)", c, c2, err)
			}
		}
	})
}

func FuzzDecodeTransferJSON(f *testing.F) {
	f.Add([]byte(`{"id":"t-1","from":"a","to":"b","amount":100}`))
	f.Add([]byte(`{"id":"t-1","from":"a","to":"b","amount":100,"x":1}`))
	f.Add([]byte(`{"id":"t-1","from":"a","to":"a","amount":-1}`))
	f.Add([]byte(`{"id":"t-1"} {}`))
	f.Add([]byte(`{"transfers":[{"id":"t-1","from":"a","to":"b","amount":100}]}`))
	f.Add([]byte(`{"results":[{"id":"t-1","status":"committed","index":3}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkJSONDecodersAgree(t, b)
		checkBatchJSONAgrees(t, b)
		tr, err := DecodeTransferJSON(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if tr.Validate() != nil || tr.Amount <= 0 || tr.Amount > MaxAmount || tr.From == tr.To {
			t.Fatalf("accepted an invalid transfer %+v", tr)
		}
		c, err := decodeCommand(encodeTransfers([]Transfer{tr}))
		if err != nil || c.transfers[0] != tr {
			t.Fatalf("accepted transfer does not survive the raft encoding: %+v %v", tr, err)
		}
	})
}

func TestExportListsEveryRecord(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 100}, Account{"b", 0})
	h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 30}, Transfer{ID: "t2", From: "a", To: "b", Amount: 300})
	h.apply(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 90, Payment: "p1", Fence: 0}))
	var buf bytes.Buffer
	if err := h.fsm.Export(&buf, "n1"); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	counts := map[string]int{}
	var hdr ExportHeader
	var tr ExportTrailer
	for dec.More() {
		var r ExportRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		counts[r.Type]++
		switch r.Type {
		case "header":
			hdr = *r.Header
		case "trailer":
			tr = *r.Trailer
		case "transfer":
			if r.Transfer.ID == "t2" && r.Transfer.Reason != ReasonInsufficientFunds {
				t.Fatalf("t2 exported as %+v", r.Transfer)
			}
		case "write":
			if r.Write.Payment != "p1" || r.Write.Old != 70 || r.Write.New != 90 {
				t.Fatalf("write exported as %+v", r.Write)
			}
		}
	}
	sum, _ := h.fsm.Summary()
	if counts["header"] != 1 || counts["account"] != 2 || counts["transfer"] != 2 || counts["write"] != 1 || counts["trailer"] != 1 ||
		tr.Accounts != 2 || tr.Transfers != 2 || tr.Writes != 1 || len(tr.LinesSHA256) != 64 || hdr.StateHash != sum.Hash || hdr.AppliedIndex != 3 {
		t.Fatalf("export counts %v header %+v trailer %+v", counts, hdr, tr)
	}
}

func TestBrokenSkipDedupeAppliesTwice(t *testing.T) {
	f, _, err := OpenFSM(filepath.Join(t.TempDir(), "state.db"), FSMOptions{SkipDedupe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(false)
	h := &fsmHarness{t: t, fsm: f}
	h.accounts(Account{"a", 100}, Account{"b", 0})
	h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 10})
	h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 10})
	if h.balance("a") != 80 {
		t.Fatalf("with the switch on, a resubmission must apply again (a = %d, want 80)", h.balance("a"))
	}
}

func TestPaymentKeyIsJournalledAndExported(t *testing.T) {
	// A healthy batch (payment = id, or none) encodes byte for byte as before payment keys.
	plain := []Transfer{{ID: "t1", From: "a", To: "b", Amount: 5}}
	same := []Transfer{{ID: "t1", From: "a", To: "b", Amount: 5, Payment: "t1"}}
	if !bytes.Equal(encodeTransfers(plain), encodeTransfers(same)) || encodeTransfers(plain)[1] != byte(kindTransfers) {
		t.Fatal("a transfer serving its own id changed the raft encoding")
	}
	keyed := []Transfer{{ID: "t1", From: "a", To: "b", Amount: 5}, {ID: "01JNEW", From: "a", To: "b", Amount: 5, Payment: "t1"}}
	c, err := decodeCommand(encodeTransfers(keyed))
	if err != nil || c.kind != kindTransfers || c.transfers[0] != keyed[0] || c.transfers[1] != keyed[1] {
		t.Fatalf("keyed transfers do not survive the raft encoding: %+v %v", c, err)
	}

	h := newHarness(t)
	h.accounts(Account{"a", 100}, Account{"b", 0})
	res := h.transfers(keyed...)
	if res[0].Status != StatusCommitted || res[1].Status != StatusCommitted {
		t.Fatalf("results %+v", res)
	}
	for _, want := range keyed {
		got, _, err := h.fsm.LookupTransfer(want.ID)
		if err != nil || got != want {
			t.Fatalf("journal holds %+v (%v), want %+v", got, err, want)
		}
	}
	// The same ledger id serving another payment is a conflict, not a duplicate.
	if r := h.transfers(Transfer{ID: "01JNEW", From: "a", To: "b", Amount: 5, Payment: "t9"}); !r[0].Conflict {
		t.Fatalf("a reused id with another payment key: %+v", r[0])
	}
	if r := h.transfers(keyed[1]); !r[0].Duplicate {
		t.Fatalf("a resubmission with the same payment key: %+v", r[0])
	}
	var buf bytes.Buffer
	if err := h.fsm.Export(&buf, "n1"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"id":"01JNEW","from":"a","to":"b","amount":5,"payment":"t1"`)) ||
		bytes.Contains(buf.Bytes(), []byte(`"id":"t1","from":"a","to":"b","amount":5,"payment"`)) {
		t.Fatalf("export does not carry the payment key (only when it is not the id):\n%s", buf.Bytes())
	}
}

func TestBalanceWriteJournalsWhatTheWriterRead(t *testing.T) {
	w := BalanceWrite{Account: "a", Balance: 90, Payment: "p1", HasRead: true, ReadBalance: 100, ReadVersion: 3}
	if c, err := decodeCommand(encodeBalanceWrite(w)); err != nil || c.write != w {
		t.Fatalf("write with a read: %+v %v", c, err)
	}
	h := newHarness(t)
	h.accounts(Account{"a", 100}, Account{"b", 0})
	h.apply(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 90, Payment: "p1", HasRead: true, ReadBalance: 100, ReadVersion: 0}))
	h.apply(encodeBalanceWrite(BalanceWrite{Account: "a", Balance: 80, Payment: "p2", HasRead: true, ReadBalance: 100, ReadVersion: 0})) // stale
	h.apply(encodeBalanceWrite(BalanceWrite{Account: "b", Balance: 7, Payment: "p3"}))
	var buf bytes.Buffer
	if err := h.fsm.Export(&buf, "n1"); err != nil {
		t.Fatal(err)
	}
	var writes []ExportWrite
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var r ExportRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Type == "write" {
			writes = append(writes, *r.Write)
		}
	}
	if len(writes) != 3 {
		t.Fatalf("%d writes exported, want 3", len(writes))
	}
	p2, p3 := writes[1], writes[2]
	if p2.Payment != "p2" || p2.Old != 90 || p2.OldVersion == nil || *p2.OldVersion != 1 || p2.ReadVersion == nil || *p2.ReadVersion != 0 || *p2.ReadBalance != 100 {
		t.Fatalf("the stale write is exported as %+v: the journal must show it read version 0 and overwrote version 1", p2)
	}
	if p3.ReadBalance != nil || p3.ReadVersion != nil || p3.OldVersion == nil || *p3.OldVersion != 0 {
		t.Fatalf("a write that did not say what it read is exported as %+v", p3)
	}
}

func TestBrokenCommitOtherAmountJournalsWhatItMoved(t *testing.T) {
	f, _, err := OpenFSM(filepath.Join(t.TempDir(), "state.db"), FSMOptions{CommitOtherAmount: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(false)
	h := &fsmHarness{t: t, fsm: f}
	h.accounts(Account{"a", 100}, Account{"b", 0})
	h.transfers(Transfer{ID: "t1", From: "a", To: "b", Amount: 10})
	got, _, err := f.LookupTransfer("t1")
	if err != nil || got.Amount != 11 || h.balance("a") != 89 {
		t.Fatalf("with the switch on, t1 must move and journal 11: %+v %v, a = %d", got, err, h.balance("a"))
	}
}

// TestJournalInsertsInKeyOrderKeepIdempotency: journal records are written in key order when the transaction
// ends (applyState.flushTransfers), so a repeat of an id later in the same transaction — in the same entry,
// or in another entry applied with it — must still find the pending record: more repeats than pendingLinear
// (the map path), ids out of key order, and two entries in one ApplyBatch.
func TestJournalInsertsInKeyOrderKeepIdempotency(t *testing.T) {
	h := newHarness(t)
	h.accounts(Account{"a", 1_000_000}, Account{"b", 0})
	const n = 3 * pendingLinear
	var first, second []Transfer
	for i := range n {
		// Descending ids: every insert would land before the previous one.
		first = append(first, Transfer{ID: fmt.Sprintf("t%03d", n-i), From: "a", To: "b", Amount: 10})
	}
	for i, tr := range first {
		if i%2 == 0 {
			second = append(second, tr) // the same transfer again: a duplicate
		} else {
			tr.Amount = 11 // the same id with another body: a conflict
			second = append(second, tr)
		}
	}
	out := h.apply(encodeTransfers(append(first, first[0])), encodeTransfers(second))
	r1, r2 := out[0].(*TransfersResponse).Results, out[1].(*TransfersResponse).Results
	for i := range first {
		if r1[i].Status != StatusCommitted || r1[i].Duplicate {
			t.Fatalf("first entry, transfer %d: %+v", i, r1[i])
		}
	}
	if last := r1[n]; !last.Duplicate || last.Index != r1[0].Index {
		t.Fatalf("repeat inside the first entry: %+v", last)
	}
	for i := range second {
		if i%2 == 0 && (!r2[i].Duplicate || r2[i].Status != StatusCommitted) || i%2 == 1 && !r2[i].Conflict {
			t.Fatalf("second entry, transfer %d (%s): %+v", i, second[i].ID, r2[i])
		}
	}
	if got := h.balance("b"); got != 10*n {
		t.Fatalf("b = %d, want %d: a repeat moved money", got, 10*n)
	}
	sum, err := h.fsm.Summary()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Transfers != n {
		t.Fatalf("journal holds %d transfers, want %d", sum.Transfers, n)
	}
	for _, tr := range first {
		if _, res, err := h.fsm.LookupTransfer(tr.ID); err != nil || res.Status != StatusCommitted {
			t.Fatalf("lookup %s: %+v %v", tr.ID, res, err)
		}
	}
}
