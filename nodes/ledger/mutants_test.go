package ledger

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// The ledger's mutants of the replica path (issue 10, "Mutants: every checker proven to bite";
// docs/CHECKERS.md): a real state machine is broken by a test-only switch (FSMOptions), its export
// is parsed as the lab parses it, and the checkers must catch the bug with evidence naming the
// transfer, while the same run without the switch passes. A mutant that goes uncaught fails here.

// mutantRun applies three acknowledged transfers to a healthy replica and, through build, to the
// replica under test, and returns the checkers' input: both exports parsed, and a history in which the
// client saw every transfer committed.
func mutantRun(t *testing.T, build func(t *testing.T, healthy *fsmHarness) *FSM) *assertions.Input {
	t.Helper()
	healthy := newHarness(t)
	healthy.accounts(Account{"acc-0", 1000}, Account{"acc-1", 1000})
	ts := []Transfer{{ID: "t1", From: "acc-0", To: "acc-1", Amount: 100}, {ID: "t2", From: "acc-1", To: "acc-0", Amount: 30}, {ID: "t3", From: "acc-0", To: "acc-1", Amount: 7}}
	for _, tr := range ts {
		healthy.transfers(tr)
	}
	epoch := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hist := results.NewHistory(epoch, 16)
	for i, tr := range ts {
		from, to := uint32(0), uint32(1)
		if tr.From == "acc-1" {
			from, to = 1, 0
		}
		sent := time.Duration(i+1) * 10 * time.Millisecond
		hist.Add(results.Op{OpDetail: results.OpDetail{Type: results.OpTransfer, Key: uint64(i + 1), From: from, To: to, Amount: tr.Amount},
			Seq: uint64(i), Sent: sent, Done: sent + time.Millisecond, Items: 1, Kind: outcome.OK}, "")
	}
	replica := func(f *FSM, node string) assertions.Replica {
		var buf bytes.Buffer
		if err := f.Export(&buf, node); err != nil {
			t.Fatal(err)
		}
		r, err := assertions.ReadReplica(&buf)
		if err != nil {
			t.Fatalf("export of %s: %v", node, err)
		}
		r.Live = true
		return r
	}
	return &assertions.Input{
		Start:      epoch,
		Accounts:   assertions.Accounts{Count: 2, Balance: 1000},
		History:    hist,
		Replicas:   []assertions.Replica{replica(healthy.fsm, "ledger:a"), replica(build(t, healthy), "ledger:b")},
		Nodes:      []string{"ledger:a", "ledger:b"},
		TransferID: func(k uint64) string { return fmt.Sprintf("t%d", k) },
	}
}

// openMutant opens a second state machine with the given switches.
func openMutant(t *testing.T, opts FSMOptions) *FSM {
	t.Helper()
	f, _, err := OpenFSM(filepath.Join(t.TempDir(), "state.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(false) })
	return f
}

func TestLedgerMutantsAreCaught(t *testing.T) {
	cases := []struct {
		name string
		// build returns the replica under test, with the switch on when mutant is set.
		build func(mutant bool) func(t *testing.T, healthy *fsmHarness) *FSM
		// caught maps each assertion that must fail on the mutant to fragments of its evidence.
		caught map[string][]string
	}{
		{name: "a replica export that omits a transfer",
			build: func(mutant bool) func(*testing.T, *fsmHarness) *FSM {
				return func(t *testing.T, healthy *fsmHarness) *FSM {
					f := openMutant(t, FSMOptions{ExportOmitsTransfer: mutant})
					f.ApplyBatch(healthy.log) // the same raft log, applied by another replica
					return f
				}
			},
			caught: map[string][]string{
				"replicas_converge": {"transfer t3: absent on ledger:b (committed at index 4 on ledger:a)"},
				"no_lost_ack":       {"t3 (acc-0→acc-1 7) acknowledged by op 2", "missing on ledger:b (absent)"},
				"no_double_deduct":  {"acc-0: balance 923, opening 1000 + journal -70 = 930", "on ledger:b"},
			}},
		{name: "drop a committed transfer on restore",
			build: func(mutant bool) func(*testing.T, *fsmHarness) *FSM {
				return func(t *testing.T, healthy *fsmHarness) *FSM {
					snap, err := healthy.fsm.Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					defer snap.Release()
					var buf bytes.Buffer
					if err := snap.Persist(&memSink{Buffer: &buf}); err != nil {
						t.Fatal(err)
					}
					f := openMutant(t, FSMOptions{DropOnRestore: mutant})
					if err := f.Restore(io.NopCloser(&buf)); err != nil {
						t.Fatal(err)
					}
					return f
				}
			},
			caught: map[string][]string{
				"no_lost_ack":       {"t3 (acc-0→acc-1 7) acknowledged by op 2", "missing on ledger:b (absent)"},
				"no_double_deduct":  {"acc-1: balance 1077, opening 1000 + journal +70 = 1070", "on ledger:b"},
				"replicas_converge": {"transfer t3: absent on ledger:b"},
			}},
		{name: "apply a batch twice on replay",
			build: func(mutant bool) func(*testing.T, *fsmHarness) *FSM {
				return func(t *testing.T, healthy *fsmHarness) *FSM {
					f := openMutant(t, FSMOptions{ReplayTwice: mutant})
					f.ApplyBatch(healthy.log)
					f.ApplyBatch(healthy.log[len(healthy.log)-1:]) // raft replays the last entry after a restart
					return f
				}
			},
			caught: map[string][]string{
				"no_double_deduct":  {"acc-0: balance 916, opening 1000 + journal -77 = 923 (off by -7)", "acc-1: balance 1084", "on ledger:b"},
				"replicas_converge": {"account acc-0: balance 916 version 4 opening 1000 on ledger:b, vs 923 version 3 opening 1000"},
			}},
	}
	catalogue, err := os.ReadFile("../../docs/CHECKERS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(strings.ToLower(string(catalogue)), "| "+strings.ToLower(c.name)) {
				t.Errorf("mutant %q has no row in docs/CHECKERS.md", c.name)
			}
			clean := mutantRun(t, c.build(false))
			mutant := mutantRun(t, c.build(true))
			for name, says := range c.caught {
				params := map[string]any(nil)
				if name == "replicas_converge" {
					params = map[string]any{"within": "5s"}
				}
				check, err := assertions.New(name, params)
				if err != nil {
					t.Fatal(err)
				}
				if res := check.Check(clean); res.Verdict != results.Pass {
					t.Fatalf("%s on the clean run: %s %s %v", name, res.Verdict, res.Error, res.Evidence)
				}
				res := check.Check(mutant)
				text := strings.Join(res.Evidence, "\n")
				if res.Verdict != results.Fail {
					t.Errorf("mutant %q uncaught by %s: %s %s\n%s", c.name, name, res.Verdict, res.Error, text)
					continue
				}
				for _, s := range says {
					if !strings.Contains(text, s) {
						t.Errorf("%s: evidence does not name %q:\n%s", name, s, text)
					}
				}
			}
		})
	}
}
