package assertions_test

import (
	"fmt"
	"strings"
	"testing"

	"paylab/assertions"
	"paylab/results"
)

// bigReplica is a replica of n committed transfers over 1,000 accounts, as a long run exports it.
func bigReplica(node string, n int) assertions.Replica {
	r := assertions.Replica{Node: node, Live: true, AppliedIndex: uint64(n), StateHash: "h",
		Accounts: map[string]assertions.Account{}, Transfers: make(map[string]assertions.Transfer, n)}
	for i := 0; i < 1000; i++ {
		r.Accounts[acc(i)] = assertions.Account{ID: acc(i), Balance: opening, Initial: opening}
	}
	for i := 0; i < n; i++ {
		id := tid(uint64(i))
		r.Transfers[id] = assertions.Transfer{ID: id, From: acc(i % 1000), To: acc((i + 1) % 1000), Amount: 1, Status: assertions.StatusCommitted, Index: uint64(i + 1)}
	}
	return r
}

// BenchmarkReplicasConverge100k compares three replicas of 100,000 transfers each, equal and with one
// transfer missing on one of them (the evidence then sorts the ids). Run with -benchtime=1x -benchmem.
func BenchmarkReplicasConverge100k(b *testing.B) {
	reps := []assertions.Replica{bigReplica("ledger:a", 100_000), bigReplica("ledger:b", 100_000), bigReplica("ledger:c", 100_000)}
	check := mustNew(b, "replicas_converge", map[string]any{"within": "5s"})
	in := &assertions.Input{Replicas: reps, Nodes: []string{"ledger:a", "ledger:b", "ledger:c"}}
	b.Run("equal", func(b *testing.B) {
		for b.Loop() {
			if res := check.Check(in); res.Verdict != results.Pass {
				b.Fatalf("%s %s", res.Verdict, res.Error)
			}
		}
	})
	delete(reps[2].Transfers, tid(4242))
	b.Run("one missing", func(b *testing.B) {
		for b.Loop() {
			if res := check.Check(in); res.Verdict != results.Fail || !strings.Contains(strings.Join(res.Evidence, "\n"), tid(4242)) {
				b.Fatalf("%s %v", res.Verdict, res.Evidence)
			}
		}
	})
}

// BenchmarkReadReplica100k parses an export of 100,000 transfers with its trailer.
func BenchmarkReadReplica100k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"type":"header","header":{"node":"ledger:a","applied_index":100000,"state_hash":"h"}}` + "\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, `{"type":"account","account":{"id":"acc-%d","balance":1000,"version":0,"initial":1000}}`+"\n", i)
	}
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&sb, `{"type":"transfer","transfer":{"id":"%s","from":"acc-%d","to":"acc-%d","amount":1,"status":"committed","index":%d}}`+"\n", tid(uint64(i)), i%1000, (i+1)%1000, i+1)
	}
	export := seal(sb.String())
	b.SetBytes(int64(len(export)))
	for b.Loop() {
		if _, err := assertions.ReadReplica(strings.NewReader(export)); err != nil {
			b.Fatal(err)
		}
	}
}
