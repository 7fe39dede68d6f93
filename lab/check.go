package lab

import (
	"fmt"

	"paylab/nodes/ledger"
	"paylab/scenarios"
)

// applyLedgerSettings sets what a scenario decides of a ledger node's configuration: the topology's raft
// timeouts and the scenario's ledger settings (a setting left out keeps the ledger's default; one written,
// 0 included, is used as written).
func applyLedgerSettings(cfg *ledger.Config, s *scenarios.Scenario) {
	topo := s.Topology
	if d := topo.Ledger.HeartbeatTimeout; d > 0 {
		cfg.HeartbeatTimeout = d
		cfg.LeaderLeaseTimeout = d // the longest raft allows: a leader under CPU pressure should not step down early
	}
	if d := topo.Ledger.ElectionTimeout; d > 0 {
		cfg.ElectionTimeout = d
	}
	if t := s.Ledger.SnapshotThreshold; t != nil {
		cfg.SnapshotThreshold = *t
	}
	if d := s.Ledger.SnapshotInterval; d != nil {
		cfg.SnapshotInterval = *d
	}
	if t := s.Ledger.TrailingLogs; t != nil {
		cfg.TrailingLogs = *t
	}
	cfg.StateSync = s.Ledger.StateSync
	cfg.Broken = ledger.Broken{SkipDedupe: s.Ledger.Broken.SkipDedupe, AckBeforeCommit: s.Ledger.Broken.AckBeforeCommit,
		CommitOtherAmount: s.Ledger.Broken.CommitOtherAmount, AllowNegative: s.Ledger.Broken.AllowNegative}
}

// Check applies the rules of the parts the lab would build from s — the ledger's configuration checks —
// without starting anything, so `paylab validate` refuses everything `paylab run` would (raft timeouts the
// ledger refuses). The gateways' mechanisms are checked by the topology's own Validate. It is a
// scenarios.Extra.
func Check(s *scenarios.Scenario, _ scenarios.Positions) []scenarios.FieldError {
	var errs []scenarios.FieldError
	// The ledger node's configuration as startLedger builds it, with placeholders for what only a running
	// lab has (directory, address). Checked once with the topology's timeouts alone, then with the ledger
	// settings too, so each problem points at the part of the file that caused it.
	base := ledger.DefaultConfig()
	base.ID, base.Dir, base.RaftAddr = "check", "check", "127.0.0.1:1"
	timing := *s
	timing.Ledger = scenarios.LedgerSettings{}
	cfg := base
	applyLedgerSettings(&cfg, &timing)
	if err := cfg.Validate(); err != nil {
		return append(errs, scenarios.FieldError{Path: "topology.ledger", Msg: fmt.Sprintf("the ledger refuses these raft timeouts: %v", err)})
	}
	cfg = base
	applyLedgerSettings(&cfg, s)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, scenarios.FieldError{Path: "ledger", Msg: fmt.Sprintf("the ledger refuses these settings: %v", err)})
	}
	return errs
}

// Load reads a scenario by path or library name and checks it whole — the format, the fault and assertion
// catalogues, and the configuration rules of the parts the lab would build (Check) — reporting every
// problem of the file at once, each as file:line:col. It returns the scenario and its plan (prepared once:
// Plan.Run runs it; the seed or duration may be overridden on the scenario first); nothing is started.
func Load(nameOrPath string) (*scenarios.Scenario, scenarios.Positions, *Plan, error) {
	s, pos, err := scenarios.LoadNamedChecked(nameOrPath, Check)
	if err != nil {
		return nil, pos, nil, err
	}
	plan, err := Prepare(s, pos)
	if err != nil {
		return nil, pos, nil, err
	}
	return s, pos, plan, nil
}
