package ledger

import (
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// timedStore is raft's log and stable store (raft-boltdb) with every write timed. Raft calls these writes on
// its main goroutine — a follower's append, a candidate's term and vote, the voter's term and vote — so a
// slow fsync is a slow election; the timings (paylab_ledger_raft_store_seconds, and a warning in raft's log
// for a write slower than slowStoreWrite) tell a starved disk from a starved CPU.
type timedStore struct {
	*raftboltdb.BoltStore
	dur    *prometheus.HistogramVec
	reads  prometheus.Counter // entries read from the file: the log cache's misses
	logger hclog.Logger
}

// GetLog counts raftboltdb's GetLog: raft reaches it only for entries its LogCache does not hold.
func (s *timedStore) GetLog(idx uint64, l *raft.Log) error {
	s.reads.Inc()
	return s.BoltStore.GetLog(idx, l)
}

// slowStoreWrite is the raft-store write time above which raft's log gets a warning.
const slowStoreWrite = 25 * time.Millisecond

func (s *timedStore) observe(op string, start time.Time) {
	d := time.Since(start)
	s.dur.WithLabelValues(op).Observe(d.Seconds())
	if d > slowStoreWrite {
		s.logger.Warn("slow raft store write", "op", op, "took", d)
	}
}

// StoreLog times raftboltdb's StoreLog.
func (s *timedStore) StoreLog(l *raft.Log) error {
	defer s.observe("store_logs", time.Now())
	return s.BoltStore.StoreLog(l)
}

// StoreLogs times raftboltdb's StoreLogs.
func (s *timedStore) StoreLogs(ls []*raft.Log) error {
	defer s.observe("store_logs", time.Now())
	return s.BoltStore.StoreLogs(ls)
}

// DeleteRange times raftboltdb's DeleteRange (log compaction after a snapshot, or a follower's conflicting
// suffix).
func (s *timedStore) DeleteRange(lo, hi uint64) error {
	defer s.observe("delete_range", time.Now())
	return s.BoltStore.DeleteRange(lo, hi)
}

// Set times raftboltdb's Set (the vote's candidate).
func (s *timedStore) Set(k, v []byte) error {
	defer s.observe("set", time.Now())
	return s.BoltStore.Set(k, v)
}

// SetUint64 times raftboltdb's SetUint64 (current term, vote term).
func (s *timedStore) SetUint64(k []byte, v uint64) error {
	defer s.observe("set", time.Now())
	return s.BoltStore.SetUint64(k, v)
}
