package assertions_test

import (
	"fmt"
	"testing"
	"time"

	"paylab/results"
)

// A correct ledger's runs pass, at a size and concurrency no hand-made case reaches.
func TestReadsOfASimulatedCorrectLedgerPass(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		s := sim{ops: 20_000, accounts: 50, reads: 0.3, stale: 0.2, unknown: 0.05, gap: 20 * time.Microsecond,
			latency: 2 * time.Millisecond, clients: 500, seed: seed}
		h, rep := s.run()
		res := mustNew(t, "reads_linearizable", nil).Check(simInput(h, rep, s.accounts))
		expect(t, res, results.Pass)
	}
}

// Against porcupine on small concurrent histories: a correct run passes both; after one read is
// changed, whenever porcupine finds no linearization at all, reads_linearizable fails too
// (its rule, the ledger's own order, is stricter, never weaker).
func TestReadsAgreeWithPorcupine(t *testing.T) {
	lin := mustNew(t, "linearizable", map[string]any{"timeout": "60s"})
	reads := mustNew(t, "reads_linearizable", nil)
	stricter, both := 0, 0
	for seed := uint64(1); seed <= 150; seed++ {
		s := simOf(seed)
		h, rep := s.run()
		in := simInput(h, rep, s.accounts)
		if res := lin.Check(in); res.Verdict != results.Pass {
			t.Fatalf("seed %d: porcupine on a correct run: %s %s %v", seed, res.Verdict, res.Error, res.Evidence)
		}
		if res := reads.Check(in); res.Verdict == results.Fail {
			t.Fatalf("seed %d: reads_linearizable on a correct run: %v", seed, res.Evidence)
		}
		// Change one read: to another balance its account held at some point, or off by one.
		ops := h.Ops()
		var readIdx []int
		for i, op := range ops {
			if op.Type == results.OpRead {
				readIdx = append(readIdx, i)
			}
		}
		if len(readIdx) == 0 {
			continue
		}
		k := readIdx[int(seed)%len(readIdx)]
		var held []int64
		for _, op := range ops {
			if op.Type == results.OpRead && op.From == ops[k].From && op.Amount != ops[k].Amount {
				held = append(held, op.Amount)
			}
		}
		if len(held) > 0 && seed%3 != 0 {
			ops[k].Amount = held[int(seed/3)%len(held)]
		} else {
			ops[k].Amount++
		}
		mh := results.NewHistory(epoch, len(ops))
		for _, op := range ops {
			mh.Add(op, h.Reason(op))
		}
		min := simInput(mh, rep, s.accounts)
		pv, rv := lin.Check(min), reads.Check(min)
		if pv.Verdict == results.Undecided {
			t.Fatalf("seed %d: porcupine undecided: %s", seed, pv.Error)
		}
		switch {
		case pv.Verdict == results.Fail && rv.Verdict != results.Fail:
			t.Errorf("seed %d: porcupine found %s not linearizable, reads_linearizable said %s %s\n%v", seed, describeOp(ops[k]), rv.Verdict, rv.Error, pv.Evidence)
		case pv.Verdict == results.Fail:
			both++
		case rv.Verdict == results.Fail:
			stricter++
		}
	}
	t.Logf("mutated runs: %d failed both, %d failed only the commit-order rule", both, stricter)
	if both == 0 {
		t.Error("no mutation was caught by both checkers: the comparison proves nothing")
	}
}

func describeOp(op results.Op) string {
	return fmt.Sprintf("op %d (read acc-%d = %d, sent %v, done %v)", op.Seq, op.From, op.Amount, op.Sent, op.Done)
}

// BenchmarkReadsLinearizable checks a million-operation history of a correct ledger (issue 10:
// at least 1,000,000 operations in at most 10 s on the lab's 2-core machine). The shipped mix
// is 10% reads; the 50% case doubles the reads judged. Figures in docs/PERFORMANCE.md.
func BenchmarkReadsLinearizable(b *testing.B) {
	for _, share := range []float64{0.1, 0.5} {
		b.Run(fmt.Sprintf("ops=1M/reads=%.0f%%", share*100), func(b *testing.B) {
			s := sim{ops: 1_000_000, accounts: 1000, reads: share, stale: 0.1, unknown: 0.01, gap: 10 * time.Microsecond,
				latency: 5 * time.Millisecond, clients: 2000, seed: 1}
			h, rep := s.run()
			in := simInput(h, rep, s.accounts)
			c := mustNew(b, "reads_linearizable", nil)
			for b.Loop() {
				if res := c.Check(in); res.Verdict != results.Pass {
					b.Fatalf("%s: %s %v", res.Verdict, res.Error, res.Evidence)
				}
			}
			b.ReportMetric(float64(s.ops)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
