package lab

import (
	"context"
	"fmt"

	"paylab/lab/load"
	"paylab/nodes/ledger/client"
)

// newTarget returns what the workload drives: for target "ledger", the ledger client straight to the nodes
// (bypassing the simulated network — a baseline for the ledger alone); for "gateway", the regional gateways
// reached through the lab DNS and the client→gateway proxies.
func (l *Lab) newTarget(ctx context.Context) (load.Target, func(), error) {
	switch l.s.Workload.Target {
	case "ledger":
		cfg := l.ctl.Config()
		cfg.AttemptTimeout = l.s.Workload.Timeout
		cfg.Deadline = l.s.Workload.Timeout
		cfg.MaxConnsPerNode = l.s.Workload.MaxConnections
		c, err := client.New(cfg)
		if err != nil {
			return nil, nil, err
		}
		return load.LedgerTarget{Client: c}, c.Close, nil
	case "gateway":
		return gatewayTarget{l: l, regions: l.s.Workload.From}, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown workload target %q", l.s.Workload.Target)
}

// Notes are remarks for the run summary (fallbacks used, parts skipped).
func (l *Lab) Notes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.notes...)
}
