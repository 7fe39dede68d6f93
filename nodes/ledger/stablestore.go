package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// voteStore is raft's stable store — the current term and the last vote, everything raft must not forget
// across a crash — in a small file of its own, so that an election costs one fdatasync per write instead of
// a bbolt commit (two fdatasyncs) queued behind the log's appends and compactions on the same bbolt file.
// A candidate writes three values before it asks for votes (term, vote term, vote) and every voter three
// before it answers; with raft-boltdb each was a full commit, and on a disk shared with other writers the
// election's own writes outlasted the election timeout (FIELD-NOTES, docs/ARCHITECTURE.md "Elections").
//
// The file holds two fixed slots of voteSlotSize bytes, preallocated and synced at creation. Each write
// serialises every key into the slot after the newest one (so a torn write leaves the previous state
// whole), overwrites it in place and fdatasyncs; no write changes the file's size or metadata. A slot is
// magic, sequence number, the entries and a CRC-32C; at open the valid slot with the higher sequence wins.
type voteStore struct {
	mu   sync.Mutex
	f    *os.File
	seq  uint64
	vals map[string][]byte
	// observe, when set, is told how long each write took.
	observe func(op string, start time.Time)
}

const (
	voteSlotSize  = 4096
	voteMagic     = 0x70617976 // "payv"
	voteStoreFile = "raft-stable.dat"
)

var voteCRC = crc32.MakeTable(crc32.Castagnoli)

// errVoteKeyNotFound is the error raft expects for a missing key: it compares the text, "not found".
var errVoteKeyNotFound = errors.New("not found")

// openVoteStore opens (or creates) the node's stable store in dir. When the file does not exist yet and
// legacy holds raft's keys (a node directory from before this store), they are copied over first.
func openVoteStore(dir string, legacy raft.StableStore) (*voteStore, error) {
	path := filepath.Join(dir, voteStoreFile)
	s := &voteStore{vals: map[string][]byte{}}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case err == nil:
		s.f = f
		if err := s.load(); err != nil {
			f.Close()
			return nil, fmt.Errorf("stable store %s: %w", path, err)
		}
		return s, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("open stable store %s: %w", path, err)
	}
	if s.f, err = createPreallocated(path, 2*voteSlotSize); err != nil {
		return nil, fmt.Errorf("create stable store %s: %w", path, err)
	}
	if legacy != nil {
		for _, k := range [][]byte{keyCurrentTerm, keyLastVoteTerm, keyLastVoteCand} {
			v, err := legacy.Get(k)
			if err != nil || len(v) == 0 {
				continue
			}
			s.vals[string(k)] = append([]byte(nil), v...)
		}
		if len(s.vals) > 0 {
			if err := s.persist(); err != nil {
				s.f.Close()
				return nil, fmt.Errorf("stable store %s: copy raft's state from raft.db: %w", path, err)
			}
		}
	}
	return s, nil
}

// Raft's stable-store keys (raft.go); only they are copied from an older node directory.
var (
	keyCurrentTerm  = []byte("CurrentTerm")
	keyLastVoteTerm = []byte("LastVoteTerm")
	keyLastVoteCand = []byte("LastVoteCand")
)

// createPreallocated creates path with size zero bytes, synced with its directory entry, so later in-place
// writes change no metadata.
func createPreallocated(path string, size int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteAt(make([]byte, size), 0)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return f, nil
}

// load reads both slots and keeps the newest valid one. Two empty slots are an empty store (a crash right
// after creation); a file with data but no valid slot is refused rather than read as empty, since raft
// would then forget a vote.
func (s *voteStore) load() error {
	buf := make([]byte, 2*voteSlotSize)
	n, err := s.f.ReadAt(buf, 0)
	if n < len(buf) {
		return fmt.Errorf("short file (%d bytes, want %d): %v", n, len(buf), err)
	}
	best, found, blank := uint64(0), false, true
	for slot := 0; slot < 2; slot++ {
		b := buf[slot*voteSlotSize : (slot+1)*voteSlotSize]
		if !bytes.Equal(b, make([]byte, voteSlotSize)) {
			blank = false
		}
		seq, vals, ok := decodeVoteSlot(b)
		if ok && (!found || seq > best) {
			best, found, s.vals = seq, true, vals
		}
	}
	if !found && !blank {
		return errors.New("no valid slot: the file is corrupt")
	}
	s.seq = best
	return nil
}

func decodeVoteSlot(b []byte) (seq uint64, vals map[string][]byte, ok bool) {
	if binary.LittleEndian.Uint32(b) != voteMagic {
		return 0, nil, false
	}
	size := int(binary.LittleEndian.Uint32(b[4:]))
	if size < 16 || size+4 > len(b) {
		return 0, nil, false
	}
	if crc32.Checksum(b[:size], voteCRC) != binary.LittleEndian.Uint32(b[size:]) {
		return 0, nil, false
	}
	seq = binary.LittleEndian.Uint64(b[8:])
	vals = map[string][]byte{}
	p := b[16:size]
	for len(p) > 0 {
		if len(p) < 4 {
			return 0, nil, false
		}
		kl, vl := int(binary.LittleEndian.Uint16(p)), int(binary.LittleEndian.Uint16(p[2:]))
		p = p[4:]
		if kl+vl > len(p) {
			return 0, nil, false
		}
		vals[string(p[:kl])] = append([]byte(nil), p[kl:kl+vl]...)
		p = p[kl+vl:]
	}
	return seq, vals, true
}

// persist writes every value into the slot after the newest and fdatasyncs. Callers hold s.mu.
func (s *voteStore) persist() error {
	b := make([]byte, voteSlotSize)
	binary.LittleEndian.PutUint32(b, voteMagic)
	binary.LittleEndian.PutUint64(b[8:], s.seq+1)
	keys := make([]string, 0, len(s.vals))
	for k := range s.vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	off := 16
	for _, k := range keys {
		v := s.vals[k]
		if len(k) > 0xffff || len(v) > 0xffff || off+4+len(k)+len(v)+4 > voteSlotSize {
			return fmt.Errorf("stable store full: %d keys do not fit %d bytes", len(keys), voteSlotSize)
		}
		binary.LittleEndian.PutUint16(b[off:], uint16(len(k)))
		binary.LittleEndian.PutUint16(b[off+2:], uint16(len(v)))
		off += 4
		off += copy(b[off:], k)
		off += copy(b[off:], v)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
	binary.LittleEndian.PutUint32(b[off:], crc32.Checksum(b[:off], voteCRC))
	slot := int64((s.seq + 1) % 2)
	if _, err := s.f.WriteAt(b, slot*voteSlotSize); err != nil {
		return fmt.Errorf("write stable store: %w", err)
	}
	if err := fdatasync(s.f); err != nil {
		return fmt.Errorf("sync stable store: %w", err)
	}
	s.seq++
	return nil
}

// Set implements raft.StableStore.
func (s *voteStore) Set(key, val []byte) error {
	if s.observe != nil {
		defer s.observe("set", time.Now())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.vals[string(key)]
	if had && bytes.Equal(old, val) {
		// Already on disk (vals holds only what a completed fdatasync made durable). Raft rewrites the term
		// it already has whenever a candidate turns follower — on the new leader's first heartbeat, in the
		// transport's goroutine — and that fsync delayed the answer past the new leader's lease.
		return nil
	}
	s.vals[string(key)] = append([]byte(nil), val...)
	if err := s.persist(); err != nil {
		if had {
			s.vals[string(key)] = old
		} else {
			delete(s.vals, string(key))
		}
		return err
	}
	return nil
}

// Get implements raft.StableStore; a missing key is the error "not found", as raft expects.
func (s *voteStore) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[string(key)]
	if !ok {
		return nil, errVoteKeyNotFound
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 implements raft.StableStore (big-endian, as raft-boltdb stores it).
func (s *voteStore) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 implements raft.StableStore.
func (s *voteStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("stable store: %s holds %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the file.
func (s *voteStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
