package ledger

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures one ledger node. Start from DefaultConfig and set ID and Dir.
type Config struct {
	// ID names the node in the raft configuration and in not_leader answers.
	ID string
	// Dir holds raft.db (log and stable store), state.db (the state machine) and snapshots/.
	Dir string
	// RaftAddr is the loopback address raft listens on when StreamLayer is nil ("127.0.0.1:0" picks a port).
	RaftAddr string
	// StreamLayer, when set, carries raft traffic instead of plain TCP on RaftAddr: the regions package
	// routes every peer connection through a toxiproxy proxy this way.
	StreamLayer raft.StreamLayer
	// HTTPAddr is the loopback address of the HTTP API ("127.0.0.1:0" picks a port).
	HTTPAddr string

	// HeartbeatTimeout is how long a follower waits without contact from the leader before it starts an
	// election (raft randomises it up to twice this); it also caps LeaderLeaseTimeout.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before it starts a new election.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a quorum; ≤ HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest a follower waits to learn a new commit index when the leader is idle.
	CommitTimeout time.Duration
	// NoElectionBackoff keeps the heartbeat and election timeouts fixed. By default a node that sees no
	// leader for two election timeouts doubles both (up to 8×) until a leader holds again (backoff.go).
	NoElectionBackoff bool
	// TransportTimeout bounds each raft RPC's I/O.
	TransportTimeout time.Duration

	// SnapshotThreshold is how many log entries since the last snapshot trigger a new one.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// TrailingLogs is how many log entries stay after a snapshot, so slow followers catch up from the log.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots stay on disk.
	SnapshotRetain int

	// StateSync fsyncs every state-machine commit. Off by default; see the package comment.
	StateSync bool

	// GroupCommitMax is the most single transfers collected into one raft entry.
	GroupCommitMax int
	// GroupCommitInFlight is how many group-commit entries may be in raft at once; while all are busy, new
	// transfers gather into the next entry (up to GroupCommitMax).
	GroupCommitInFlight int
	// GroupCommitInterval is the least time from the start of one group-commit entry to the start of the next
	// while transfers keep arriving: transfers that arrive sooner gather into the next entry, so under load
	// each raft entry (three log appends with two fdatasyncs each, three state commits, two AppendEntries)
	// carries more transfers. The caller whose entry just committed is answered at once; only transfers that
	// arrive within the interval of an entry's start wait, for at most the rest of it. 0 (the default) sends
	// the next entry as soon as a slot is free. The lab sets 5 ms: −11% CPU per transfer on a three-node
	// cluster, about −8% per payment in zone-failover at 2,000/s (docs/PERFORMANCE.md, "Cut 2"); at 10,000
	// transfers/s entries are already larger than it would make them, so it saves nothing there.
	GroupCommitInterval time.Duration
	// GroupCommitQueue bounds transfers waiting to be collected. When it is full the node is past what it can
	// commit: a new transfer is refused at once (503 "overloaded", nothing applied) instead of queueing, so
	// latency stays bounded and the work a refused request costs is small.
	GroupCommitQueue int
	// MaxConnections bounds the HTTP connections the node serves at once; more wait to be accepted. It keeps
	// a node from running its process out of file descriptors under a connection storm.
	MaxConnections int
	// ApplyTimeout bounds how long a write waits for raft before it is answered as timed out (outcome unknown).
	ApplyTimeout time.Duration

	// Broken holds test-only switches that break the ledger on purpose, so the lab can prove its checkers
	// catch real bugs. Never set them outside a test or a scenario that expects to fail.
	Broken Broken

	// OnSnapshotInstalled, when set, is called after the node replaced its state with a snapshot the leader
	// sent (InstallSnapshot: it was too far behind for the log), with the snapshot's last index. It runs on
	// raft's FSM goroutine and must return quickly.
	OnSnapshotInstalled func(index uint64)

	// LogOutput receives raft's own log at LogLevel ("warn" by default); nil discards it.
	LogOutput io.Writer
	// LogLevel is raft's log level: trace, debug, info, warn or error.
	LogLevel string
}

// Broken switches make a ledger wrong on purpose (test-only).
type Broken struct {
	// SkipDedupe applies a transfer again when its id was seen before (no idempotency check).
	SkipDedupe bool `yaml:"skip_dedupe"`
	// AckBeforeCommit answers single transfers "committed" as soon as they are queued, before raft commits
	// them; a crash then loses acknowledged transfers.
	AckBeforeCommit bool `yaml:"ack_before_commit"`
	// DropOnRestore deletes the journal record of the last committed transfer whenever the node restores a
	// snapshot (its balance effect stays): a restore that loses a committed entry.
	DropOnRestore bool `yaml:"drop_on_restore"`
	// ExportOmitsTransfer leaves the last committed transfer out of the node's export, with a trailer that
	// agrees: a replica export that omits a transfer.
	ExportOmitsTransfer bool `yaml:"export_omits_transfer"`
	// ReplayTwice applies a batch of transfers again, without its idempotency check, when raft hands the
	// state machine entries it already applied (a replay after a restart): a batch applied twice on replay.
	ReplayTwice bool `yaml:"replay_twice"`
	// CommitOtherAmount commits (and journals) one minor unit more than each transfer asked for: the client
	// is told "committed" for a body the ledger did not apply.
	CommitOtherAmount bool `yaml:"commit_other_amount"`
	// AllowNegative skips the insufficient-funds check: a transfer larger than the payer's balance commits
	// and leaves it below zero (an overdraft).
	AllowNegative bool `yaml:"allow_negative"`
}

// DefaultConfig returns a configuration tuned for failover inside a lab: heartbeat and lease 75 ms, election
// 150 ms, unsynced state file, group commit of up to 512.
//
// Why these timeouts (docs/ARCHITECTURE.md "Elections, leases and churn"): raft steps a leader down when no
// quorum answered within the lease, and refuses a lease longer than the heartbeat timeout; on a shared
// 2-core machine the whole process stalls for 50–60 ms at times, and a 50 ms lease made leaders step down
// with nothing wrong. The election timeout is what a candidate refused a pre-vote — by a follower that has
// not yet noticed the dead leader — waits before it asks again, so it sets the failover's tail: with the
// 75 ms heartbeat, 150 ms keeps the modelled p99 near 430 ms (200 ms: 525 ms). Elections that cannot finish
// in it on a starved machine are given longer by the election backoff.
func DefaultConfig() Config {
	return Config{
		RaftAddr:            "127.0.0.1:0",
		HTTPAddr:            "127.0.0.1:0",
		HeartbeatTimeout:    75 * time.Millisecond,
		ElectionTimeout:     150 * time.Millisecond,
		LeaderLeaseTimeout:  75 * time.Millisecond,
		CommitTimeout:       5 * time.Millisecond,
		TransportTimeout:    10 * time.Second,
		SnapshotThreshold:   8192,
		SnapshotInterval:    30 * time.Second,
		TrailingLogs:        10240,
		SnapshotRetain:      2,
		GroupCommitMax:      512,
		GroupCommitInFlight: 1,
		GroupCommitQueue:    4096,
		ApplyTimeout:        10 * time.Second,
		MaxConnections:      4096,
		LogLevel:            "warn",
	}
}

// Validate checks every field and the fields against each other; the error names the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !ValidID(c.ID) {
		bad("ID %q must match [A-Za-z0-9_.-]{1,64}", c.ID)
	}
	if c.Dir == "" {
		bad("Dir is empty")
	}
	if c.StreamLayer == nil && c.RaftAddr == "" {
		bad("RaftAddr is empty and no StreamLayer is set")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{
		{"HeartbeatTimeout", c.HeartbeatTimeout, 5 * time.Millisecond},
		{"ElectionTimeout", c.ElectionTimeout, 5 * time.Millisecond},
		{"LeaderLeaseTimeout", c.LeaderLeaseTimeout, 5 * time.Millisecond},
		{"CommitTimeout", c.CommitTimeout, time.Millisecond},
		{"TransportTimeout", c.TransportTimeout, 10 * time.Millisecond},
		{"SnapshotInterval", c.SnapshotInterval, 5 * time.Millisecond},
		{"ApplyTimeout", c.ApplyTimeout, time.Millisecond},
	} {
		if d.v < d.min {
			bad("%s %v must be at least %v", d.name, d.v, d.min)
		}
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("LeaderLeaseTimeout %v must not exceed HeartbeatTimeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("ElectionTimeout %v must not be below HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.SnapshotThreshold < 1 {
		bad("SnapshotThreshold must be at least 1")
	}
	if c.SnapshotRetain < 1 {
		bad("SnapshotRetain must be at least 1")
	}
	if c.GroupCommitMax < 1 || c.GroupCommitMax > MaxBatch {
		bad("GroupCommitMax %d must be in 1..%d", c.GroupCommitMax, MaxBatch)
	}
	if c.GroupCommitInFlight < 1 || c.GroupCommitInFlight > 256 {
		bad("GroupCommitInFlight %d must be in 1..256", c.GroupCommitInFlight)
	}
	if c.GroupCommitInterval < 0 || c.GroupCommitInterval > time.Second {
		bad("GroupCommitInterval %v must be in 0..1s", c.GroupCommitInterval)
	}
	if c.GroupCommitQueue < 1 || c.GroupCommitQueue > 1<<20 {
		bad("GroupCommitQueue %d must be in 1..%d", c.GroupCommitQueue, 1<<20)
	}
	if c.MaxConnections < 1 || c.MaxConnections > 1<<20 {
		bad("MaxConnections %d must be in 1..%d", c.MaxConnections, 1<<20)
	}
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("LogLevel %q must be trace, debug, info, warn or error", c.LogLevel)
	}
	if len(errs) > 0 {
		return fmt.Errorf("ledger config: %w", errors.Join(errs...))
	}
	return nil
}
