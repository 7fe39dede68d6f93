package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"paylab/lab/load"
	"paylab/nodes/gateway"
)

// What the flags of `paylab load` ask for, built from lab/load's parts: the load's schedule and the
// endpoint it drives.

// config is the load the flags describe.
func (f *loadFlags) config(set map[string]bool) (load.Config, error) {
	cfg := f.cfg
	cfg.Workers = min(cfg.Workers, cfg.MaxWorkers)
	pacer, err := f.pacer(set)
	if err != nil {
		return cfg, err
	}
	cfg.Pacer = pacer
	if f.clients > 0 {
		cfg.Pacer, cfg.Clients, cfg.ThinkTime = nil, f.clients, f.think
	}
	return cfg, nil
}

// pacer builds the open-model schedule from --rate, --ramp or --steps.
func (f *loadFlags) pacer(set map[string]bool) (load.Pacer, error) {
	n := 0
	for _, k := range []string{"rate", "ramp", "steps", "clients"} {
		if set[k] {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("%w: --rate, --ramp, --steps and --clients are exclusive", errUsage)
	}
	switch {
	case f.ramp != "":
		p, err := load.ParseRamp(f.ramp, f.cfg.Duration)
		if err != nil {
			return nil, fmt.Errorf("%w: --ramp %q: %v", errUsage, f.ramp, err)
		}
		return p, nil
	case f.steps != "":
		p, err := load.ParseSteps(f.steps)
		if err != nil {
			return nil, fmt.Errorf("%w: --steps %q: %v", errUsage, f.steps, err)
		}
		if len(p.Steps) > 1000 {
			return nil, fmt.Errorf("%w: --steps has %d steps, at most 1000", errUsage, len(p.Steps))
		}
		return p, nil
	}
	if !(f.rate > 0) {
		return nil, fmt.Errorf("%w: --rate %g must be positive", errUsage, f.rate)
	}
	return load.ConstantPacer{Rate: f.rate}, nil
}

// target opens the endpoint the flags name: its operation, what closes it, and a note for the summary.
func (f *loadFlags) target(ctx context.Context, stderr io.Writer) (load.OpFunc, func(), string, error) {
	if t := f.http; t.URL != "" {
		t.DialTimeout, t.MaxIdleConns = f.cfg.Timeout, f.cfg.MaxWorkers
		op, closeIdle, err := t.Op()
		if err != nil {
			return nil, nil, "", fmt.Errorf("%w: --url %v", errUsage, err)
		}
		return op, closeIdle, fmt.Sprintf("target: %s %s", t.Method, t.URL), nil
	}
	conn, err := f.ledger()
	if err != nil {
		return nil, nil, "", err
	}
	if f.create {
		fmt.Fprintf(stderr, "paylab load: creating %d accounts …\n", f.workload.Accounts)
		if err := conn.CreateAccounts(ctx, f.balance); err != nil {
			conn.Close()
			return nil, nil, "", err
		}
	}
	return conn.Op(), conn.Close, fmt.Sprintf("target: ledger %s", f.ledgerNodes), nil
}

// ledger opens the workload mode's ledger endpoint (a gateway with --sign-key).
func (f *loadFlags) ledger() (*load.LedgerConn, error) {
	e := load.LedgerEndpoint{Nodes: map[string]string{}, Timeout: f.cfg.Timeout, MaxConnsPerNode: f.cfg.MaxWorkers, Workload: f.workload}
	for part := range strings.SplitSeq(f.ledgerNodes, ",") {
		id, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || !strings.HasPrefix(u, "http") {
			return nil, fmt.Errorf("%w: --ledger %q: want id=http://host:port,…", errUsage, f.ledgerNodes)
		}
		e.Nodes[id] = u
	}
	mix, err := load.ParseMix(f.mix)
	if err != nil {
		return nil, fmt.Errorf("%w: --mix %q: %v", errUsage, f.mix, err)
	}
	e.Workload.Mix, e.Workload.Regions = mix, strings.Split(f.regions, ",")
	// Time-ordered, unique per invocation: ids sort in send order within a run and never collide with an
	// earlier run against the same ledger.
	e.Workload.IDPrefix = "L" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-"
	if f.signKey != "" {
		// A gateway: its API mirrors the ledger's, and every request must be signed.
		key, err := hex.DecodeString(f.signKey)
		if err != nil {
			return nil, fmt.Errorf("%w: --sign-key: %v", errUsage, err)
		}
		signer, err := gateway.NewSigner(key)
		if err != nil {
			return nil, fmt.Errorf("%w: --sign-key: %v", errUsage, err)
		}
		e.Signer = signer
	}
	conn, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return conn, nil
}
