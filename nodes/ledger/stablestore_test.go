package ledger

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

func TestVoteStoreKeepsTheNewestStateAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openVoteStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUint64(keyCurrentTerm); err == nil || err.Error() != "not found" {
		t.Fatalf("missing key: err %v, raft needs the text \"not found\"", err)
	}
	for term := uint64(1); term <= 5; term++ {
		if err := s.SetUint64(keyCurrentTerm, term); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(keyLastVoteCand, []byte("127.0.0.1:7000")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, voteStoreFile))
	if err != nil || info.Size() != 2*voteSlotSize {
		t.Fatalf("file %v, %v: writes must not change its size", info, err)
	}
	s, err = openVoteStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetUint64(keyCurrentTerm); err != nil || got != 5 {
		t.Fatalf("term after reopen = %d, %v; want 5", got, err)
	}
	if got, err := s.Get(keyLastVoteCand); err != nil || string(got) != "127.0.0.1:7000" {
		t.Fatalf("vote after reopen = %q, %v", got, err)
	}
}

func TestVoteStoreSurvivesATornWrite(t *testing.T) {
	dir := t.TempDir()
	s, err := openVoteStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64(keyCurrentTerm, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64(keyCurrentTerm, 8); err != nil {
		t.Fatal(err)
	}
	newest := int64(s.seq % 2)
	s.Close()
	// A crash in the middle of the write of term 8: half its slot is garbage.
	f, err := os.OpenFile(filepath.Join(dir, voteStoreFile), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("torn write torn write"), newest*voteSlotSize+20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err = openVoteStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUint64(keyCurrentTerm); err != nil || got != 7 {
		t.Fatalf("term after a torn write = %d, %v; want the previous state, 7", got, err)
	}
	// The next write goes to the slot after the surviving one and wins at the next open.
	if err := s.SetUint64(keyCurrentTerm, 9); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openVoteStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := s.GetUint64(keyCurrentTerm); got != 9 {
		t.Fatalf("term = %d, want 9", got)
	}
}

func TestVoteStoreRefusesAFileWithNoValidSlot(t *testing.T) {
	dir := t.TempDir()
	s, err := openVoteStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64(keyCurrentTerm, 3); err != nil {
		t.Fatal(err)
	}
	s.Close()
	junk := make([]byte, 2*voteSlotSize)
	for i := range junk {
		junk[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(dir, voteStoreFile), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openVoteStore(dir, nil); err == nil {
		t.Fatal("a corrupt stable store opened as empty: raft would forget its vote")
	}
}

func TestVoteStoreTakesOverRaftsStateFromRaftDB(t *testing.T) {
	dir := t.TempDir()
	bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if err := bs.SetUint64(keyCurrentTerm, 42); err != nil {
		t.Fatal(err)
	}
	if err := bs.Set(keyLastVoteCand, []byte("n2")); err != nil {
		t.Fatal(err)
	}
	s, err := openVoteStore(dir, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetUint64(keyCurrentTerm); err != nil || got != 42 {
		t.Fatalf("term taken over from raft.db = %d, %v; want 42", got, err)
	}
	if got, _ := s.Get(keyLastVoteCand); string(got) != "n2" {
		t.Fatalf("vote taken over = %q", got)
	}
	if _, err := s.Get(keyLastVoteTerm); err == nil {
		t.Fatal("a key raft.db did not hold appeared")
	}
}

func TestVoteStoreReportsWriteTimes(t *testing.T) {
	s, err := openVoteStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ops []string
	s.observe = func(op string, _ time.Time) { ops = append(ops, op) }
	if err := s.SetUint64(keyLastVoteTerm, 1); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0] != "set" {
		t.Fatalf("observed %v", ops)
	}
	seq := s.seq
	if err := s.SetUint64(keyLastVoteTerm, 1); err != nil {
		t.Fatal(err)
	}
	if s.seq != seq {
		t.Fatal("rewriting the value already on disk wrote (and synced) again")
	}
}

// BenchmarkStableStoreWrite compares one durable write of raft's term: raft-boltdb (a bbolt commit, two
// fdatasyncs) against the node's own stable store (one in-place fdatasync). An election makes three on the
// candidate and up to three on each voter.
func BenchmarkStableStoreWrite(b *testing.B) {
	b.Run("raft-boltdb", func(b *testing.B) {
		bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(b.TempDir(), "raft.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer bs.Close()
		for i := 0; i < b.N; i++ {
			if err := bs.SetUint64(keyCurrentTerm, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("own-file", func(b *testing.B) {
		s, err := openVoteStore(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for i := 0; i < b.N; i++ {
			if err := s.SetUint64(keyCurrentTerm, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
