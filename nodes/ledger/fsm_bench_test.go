package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/oklog/ulid/v2"
)

// benchmarkApply measures the state machine's apply path alone: one raft entry of batch transfers per
// ApplyBatch call, as group commit and the batch API produce, over 10,000 accounts.
func benchmarkApply(b *testing.B, batch int, newID func() string) {
	f, _, err := OpenFSM(filepath.Join(b.TempDir(), "state.db"), FSMOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close(false)
	const accounts = 10_000
	var as []Account
	for i := 0; i < accounts; i++ {
		as = append(as, Account{ID: fmt.Sprintf("acc-%d", i), Balance: 1 << 40})
	}
	index := uint64(1)
	for i := 0; i < accounts; i += MaxBatch {
		f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: encodeAccounts(as[i:min(i+MaxBatch, accounts)])}})
		index++
	}
	entries := make([][]byte, 64)
	for e := range entries {
		ts := make([]Transfer, batch)
		for i := range ts {
			ts[i] = Transfer{ID: "x", From: fmt.Sprintf("acc-%d", (e*batch+i)%accounts), To: fmt.Sprintf("acc-%d", (e*batch+i+7)%accounts), Amount: 1}
		}
		entries[e] = encodeTransfers(ts)
	}
	b.ResetTimer()
	b.ReportAllocs()
	done := 0
	for b.Loop() {
		b.StopTimer()
		// Fresh ids per entry, so every transfer is new (no dedupe shortcut).
		cmd, _ := decodeCommand(entries[done%len(entries)])
		for i := range cmd.transfers {
			cmd.transfers[i].ID = newID()
		}
		data := encodeTransfers(cmd.transfers)
		index++
		b.StartTimer()
		f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: data}})
		done++
	}
	b.ReportMetric(float64(done*batch)/b.Elapsed().Seconds(), "transfers/s")
}

func ulidIDs() func() string {
	entropy := ulid.Monotonic(rand.Reader, 0)
	return func() string { return ulid.MustNew(ulid.Now(), entropy).String() }
}

func randomIDs() func() string {
	return func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
}

// BenchmarkApplyBatch8ULID is the entry size group commit makes at a few thousand transfers/s.
func BenchmarkApplyBatch8ULID(b *testing.B) { benchmarkApply(b, 8, ulidIDs()) }

func BenchmarkApplyBatch512ULID(b *testing.B)    { benchmarkApply(b, 512, ulidIDs()) }
func BenchmarkApplyBatch4096ULID(b *testing.B)   { benchmarkApply(b, 4096, ulidIDs()) }
func BenchmarkApplyBatch4096Random(b *testing.B) { benchmarkApply(b, 4096, randomIDs()) }

func BenchmarkDecodeTransfers4096(b *testing.B) {
	ts := make([]Transfer, 4096)
	for i := range ts {
		ts[i] = Transfer{ID: fmt.Sprintf("01JD%022d", i), From: fmt.Sprintf("acc-%d", i), To: fmt.Sprintf("acc-%d", i+1), Amount: 100}
	}
	data := encodeTransfers(ts)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decodeCommand(data); err != nil {
			b.Fatal(err)
		}
	}
}
