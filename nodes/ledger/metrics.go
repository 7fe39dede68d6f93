package ledger

import (
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is one node's Prometheus registry. Each node has its own, so many nodes share a process.
type metrics struct {
	reg             *prometheus.Registry
	leaderChanges   prometheus.Counter
	groupCommitSize prometheus.Histogram
	applyEntries    prometheus.Histogram
	applyTransfers  prometheus.Histogram
	httpDuration    *prometheus.HistogramVec
	shed            prometheus.Counter
	storeDuration   *prometheus.HistogramVec
	logReads        prometheus.Counter
	snapshots       *prometheus.CounterVec
}

var batchBuckets = prometheus.ExponentialBuckets(1, 2, 14) // 1 … 8192

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "paylab_ledger_leadership_changes_total", Help: "Times this node gained or lost leadership.",
	})
	m.shed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "paylab_ledger_shed_transfers_total", Help: "Transfers refused with 503 overloaded because the group-commit queue was full.",
	})
	m.groupCommitSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "paylab_ledger_group_commit_transfers", Help: "Single transfers collected into one raft entry by group commit.",
		Buckets: batchBuckets,
	})
	m.applyEntries = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "paylab_ledger_apply_batch_entries", Help: "Raft entries applied in one state-machine transaction.",
		Buckets: batchBuckets,
	})
	m.applyTransfers = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "paylab_ledger_apply_batch_transfers", Help: "Transfers applied in one state-machine transaction.",
		Buckets: batchBuckets,
	})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "paylab_ledger_http_request_duration_seconds", Help: "HTTP API latency by route and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "paylab_ledger_raft_store_seconds", Help: "Raft log and stable store writes (each fsynced) by operation.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"op"})
	m.logReads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "paylab_ledger_raft_log_file_reads_total", Help: "Raft log entries read from the log file (raft.db) because the in-memory log cache did not hold them.",
	})
	m.snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paylab_ledger_snapshots_total", Help: "Snapshots this node took of its state (taken) and snapshots from the leader it replaced its state with (installed).",
	}, []string{"kind"})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	outcome := func(o string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "paylab_ledger_transfers_total", Help: "Transfers decided by this replica's state machine, by outcome.",
			ConstLabels: prometheus.Labels{"outcome": o},
		}, func() float64 { return float64(f()) })
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		m.leaderChanges, m.shed, m.groupCommitSize, m.applyEntries, m.applyTransfers, m.httpDuration, m.storeDuration, m.logReads, m.snapshots,
		gauge("paylab_ledger_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.", func() float64 {
			if n.raft == nil {
				return float64(raft.Shutdown)
			}
			return float64(n.raft.State())
		}),
		gauge("paylab_ledger_raft_term", "Current raft term.", func() float64 { return float64(n.raft.CurrentTerm()) }),
		gauge("paylab_ledger_raft_timeout_factor", "The election backoff's factor on the heartbeat and election timeouts (1: base).", func() float64 { return float64(n.electionFactor.Load()) }),
		gauge("paylab_ledger_raft_commit_index", "Highest log index known committed.", func() float64 { return float64(n.raft.CommitIndex()) }),
		gauge("paylab_ledger_raft_last_index", "Last index in the local raft log.", func() float64 { return float64(n.raft.LastIndex()) }),
		gauge("paylab_ledger_applied_index", "Last index applied to the state machine.", func() float64 { return float64(n.fsm.AppliedIndex()) }),
		outcome("committed", func() uint64 { return n.fsm.committed.Load() }),
		outcome("rejected", func() uint64 { return n.fsm.rejected.Load() }),
		outcome("duplicate", func() uint64 { return n.fsm.duplicates.Load() }),
		outcome("conflict", func() uint64 { return n.fsm.conflicts.Load() }),
	)
	return m
}

func (m *metrics) observeApply(entries, transfers int) {
	m.applyEntries.Observe(float64(entries))
	if transfers > 0 {
		m.applyTransfers.Observe(float64(transfers))
	}
}
