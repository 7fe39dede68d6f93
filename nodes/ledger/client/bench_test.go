package client_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
	"paylab/outcome"
)

// BenchmarkTransferOneNode measures one transfer through the client, the node's HTTP API, group commit, a
// one-node raft (fsynced log) and the state machine, with 64 callers at once. Besides ns/op it reports
// cpu-µs/op: the process's user+system CPU per transfer, the figure the lab's budget is made of.
func BenchmarkTransferOneNode(b *testing.B) { benchmarkTransfers(b, 1, 0) }

// BenchmarkTransferThreeNodes is BenchmarkTransferOneNode on a three-node cluster: raft replication to two
// followers (each fsyncing its log and applying to its own state file) is part of every transfer.
func BenchmarkTransferThreeNodes(b *testing.B) { benchmarkTransfers(b, 3, 0) }

// BenchmarkMixThreeNodes is the lab's workload mix on a three-node cluster: one operation in ten is a
// linearizable balance read (read-index: leadership confirmed with a quorum, then the state machine caught
// up to the commit index), the rest transfers.
func BenchmarkMixThreeNodes(b *testing.B) { benchmarkTransfers(b, 3, 10) }

// BenchmarkTransferThreeNodesInterval is BenchmarkTransferThreeNodes with group-commit entries started at
// most every 2, 5 or 10 ms (Config.GroupCommitInterval): fewer, larger raft entries.
func BenchmarkTransferThreeNodesInterval(b *testing.B) {
	for _, d := range []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond} {
		b.Run(d.String(), func(b *testing.B) { benchmarkTransfersWith(b, 3, 0, d) })
	}
}

// benchmarkTransfers drives transfers (and, when readEvery > 0, one linearizable read every readEvery
// operations) through a cluster of nodes with 32 × GOMAXPROCS callers and reports cpu-µs/op.
func benchmarkTransfers(b *testing.B, nodes, readEvery int) {
	benchmarkTransfersWith(b, nodes, readEvery, 0)
}

// benchmarkTransfersWith is benchmarkTransfers with the nodes' GroupCommitInterval set to interval.
func benchmarkTransfersWith(b *testing.B, nodes, readEvery int, interval time.Duration) {
	ctx := context.Background()
	c, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: nodes, Configure: func(_ int, cfg *ledger.Config) { cfg.GroupCommitInterval = interval }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	cl, err := client.New(client.DefaultConfig(c.URLs()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	accounts := make([]ledger.Account, 100)
	for i := range accounts {
		accounts[i] = ledger.Account{ID: fmt.Sprintf("acc-%d", i), Balance: 1 << 40}
	}
	if err := cl.CreateAccounts(ctx, accounts); err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	b.SetParallelism(32) // 32 × GOMAXPROCS callers
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if readEvery > 0 && i%uint64(readEvery) == 0 {
				if _, err := cl.Account(ctx, fmt.Sprintf("acc-%d", i%100), false); err != nil {
					b.Errorf("read: %v", err)
					return
				}
				continue
			}
			r := cl.Transfer(ctx, ledger.Transfer{From: fmt.Sprintf("acc-%d", i%100), To: fmt.Sprintf("acc-%d", (i+1)%100), Amount: 1})
			if r.Outcome != outcome.OK {
				b.Errorf("transfer: %s %v", r.Outcome, r.Err)
				return
			}
		}
	})
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
