package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"paylab/regions"
	"paylab/results"
)

// processFault crashes nodes on inject and restarts them on heal.
type processFault struct {
	name, target string
	// pick decides which nodes to crash, in order, at inject time.
	pick func(env Env) ([]regions.NodeID, string, error)
	// notes records an event for each node as it goes down and comes back (zone-down: several parts).
	notes bool

	mu     sync.Mutex
	down   []regions.NodeID // crashed by this fault and not restarted yet, in crash order
	detail string
}

func (f *processFault) Name() string   { return f.name }
func (f *processFault) Target() string { return f.target }

// Detail says which nodes the last inject crashed.
func (f *processFault) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.detail
}

// Inject crashes the picked nodes in order; if one fails, it restarts the
// ones it crashed before returning the error.
func (f *processFault) Inject(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.down) > 0 {
		return fmt.Errorf("inject %s on %q: already injected", f.name, f.target)
	}
	nodes, detail, err := f.pick(env)
	if err == nil {
		err = checkRunning(env, nodes)
	}
	if err != nil {
		return fmt.Errorf("inject %s on %q: %w", f.name, f.target, err)
	}
	for _, id := range nodes {
		if err := env.CrashNode(ctx, id); err != nil {
			undo := f.restartLocked(context.WithoutCancel(ctx), env)
			return fmt.Errorf("inject %s on %q: crash %s: %w", f.name, f.target, id, errors.Join(err, undo))
		}
		f.down = append(f.down, id)
		if f.notes {
			note(env, f.name, f.target, "down: "+string(id)+" crashed")
		}
	}
	f.detail = joinDetail(detail, "crashed "+strings.Join(idStrings(nodes), ", "))
	return nil
}

// Heal restarts the nodes Inject crashed, last crashed first. A node that
// fails to restart stays on the list, so healing again retries it.
func (f *processFault) Heal(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.restartLocked(ctx, env); err != nil {
		return fmt.Errorf("heal %s on %q: %w", f.name, f.target, err)
	}
	return nil
}

func (f *processFault) restartLocked(ctx context.Context, env Env) error {
	var errs []error
	for i := len(f.down) - 1; i >= 0; i-- {
		id := f.down[i]
		if err := env.RestartNode(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("restart %s: %w", id, err))
			continue
		}
		f.down = slices.Delete(f.down, i, i+1)
		if f.notes {
			note(env, f.name, f.target, "up: "+string(id)+" restarted")
		}
	}
	return errors.Join(errs...)
}

// restartFault crashes a node and starts it again at once: over when
// Inject returns.
type restartFault struct {
	target regions.NodeID

	mu     sync.Mutex
	detail string
}

func (f *restartFault) Name() string   { return "restart" }
func (f *restartFault) Target() string { return string(f.target) }

// OneShot marks restart as over when Inject returns.
func (f *restartFault) OneShot() {}

// Detail says how long the node was down.
func (f *restartFault) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.detail
}

// Inject crashes the node and restarts it from its files.
func (f *restartFault) Inject(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := checkRunning(env, []regions.NodeID{f.target}); err != nil {
		return fmt.Errorf("inject restart on %q: %w", f.target, err)
	}
	start := time.Now()
	if err := env.CrashNode(ctx, f.target); err != nil {
		return fmt.Errorf("inject restart on %q: crash: %w", f.target, err)
	}
	if err := env.RestartNode(context.WithoutCancel(ctx), f.target); err != nil {
		return fmt.Errorf("inject restart on %q: the node is down, restart failed: %w", f.target, err)
	}
	f.detail = fmt.Sprintf("down for %v", time.Since(start).Round(time.Millisecond))
	return nil
}

// Heal has nothing to undo: the node is up again when Inject returns.
func (f *restartFault) Heal(context.Context, Env) error { return nil }

// rollingRestart crashes and restarts nodes one at a time, from its own
// goroutine, which Heal stops and waits for.
type rollingRestart struct {
	target   string
	members  func(env Env) []regions.NodeID
	downtime time.Duration
	interval time.Duration

	op      sync.Mutex // serialises Inject and Heal
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex // guards what the goroutine shares
	down    regions.NodeID
	rollErr error
	detail  string
}

// Limits of a rolling restart.
const (
	rollLeaderWait = 30 * time.Second // for a leader after each restart
	rollPoll       = 10 * time.Millisecond
)

func (f *rollingRestart) Name() string   { return "rolling-restart" }
func (f *rollingRestart) Target() string { return f.target }

// Detail says the order of the roll.
func (f *rollingRestart) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.detail
}

// Inject starts the roll and returns; the roll runs until every node has
// restarted or Heal stops it.
func (f *rollingRestart) Inject(ctx context.Context, env Env) error {
	f.op.Lock()
	defer f.op.Unlock()
	if f.done != nil {
		return fmt.Errorf("inject rolling-restart on %q: already injected", f.target)
	}
	order := f.members(env)
	if len(order) == 0 {
		return fmt.Errorf("inject rolling-restart on %q: %w", f.target, ErrNotRunning)
	}
	if leader, ok := env.LeaderNode(); ok && slices.Contains(order, leader) {
		order = append(without(order, leader), leader) // the leader last: one election, not one per node
	}
	// The roll belongs to the fault, not to the inject call: only Heal ends it.
	rollCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel, f.done = cancel, make(chan struct{})
	f.mu.Lock()
	f.rollErr, f.down = nil, ""
	f.detail = "order " + strings.Join(idStrings(order), ", ")
	f.mu.Unlock()
	go func() {
		defer close(f.done)
		if err := f.roll(rollCtx, env, order); err != nil && rollCtx.Err() == nil {
			f.mu.Lock()
			f.rollErr = err
			f.mu.Unlock()
			note(env, "rolling-restart", f.target, "stopped: "+err.Error())
		}
	}()
	return nil
}

func (f *rollingRestart) roll(ctx context.Context, env Env, order []regions.NodeID) error {
	for i, id := range order {
		if i > 0 && !sleep(ctx, f.interval) {
			return ctx.Err()
		}
		if err := env.CrashNode(ctx, id); err != nil {
			return fmt.Errorf("crash %s: %w", id, err)
		}
		f.mu.Lock()
		f.down = id
		f.mu.Unlock()
		note(env, "rolling-restart", f.target, "crashed "+string(id))
		if !sleep(ctx, f.downtime) {
			return ctx.Err()
		}
		if err := env.RestartNode(ctx, id); err != nil {
			return fmt.Errorf("restart %s: %w", id, err)
		}
		f.mu.Lock()
		f.down = ""
		f.mu.Unlock()
		note(env, "rolling-restart", f.target, "restarted "+string(id))
		if err := waitLeader(ctx, env, rollLeaderWait); err != nil {
			return fmt.Errorf("after restarting %s: %w", id, err)
		}
	}
	return nil
}

// Heal stops the roll, waits for its goroutine, and restarts the node it
// left down, if any. It returns the error that stopped the roll early.
func (f *rollingRestart) Heal(ctx context.Context, env Env) error {
	f.op.Lock()
	defer f.op.Unlock()
	if f.done == nil {
		return nil
	}
	f.cancel()
	select {
	case <-f.done:
	case <-ctx.Done():
		return fmt.Errorf("heal rolling-restart on %q: wait for the roll: %w", f.target, ctx.Err())
	}
	f.mu.Lock()
	down, rollErr := f.down, f.rollErr
	f.mu.Unlock()
	if down != "" {
		if err := env.RestartNode(ctx, down); err != nil {
			// The roll has stopped; keep done so a second Heal retries the restart.
			f.cancel = func() {}
			return fmt.Errorf("heal rolling-restart on %q: restart %s: %w", f.target, down, err)
		}
		f.mu.Lock()
		f.down = ""
		f.mu.Unlock()
	}
	f.done, f.cancel = nil, nil
	if rollErr != nil {
		return fmt.Errorf("heal rolling-restart on %q: the roll had stopped early: %w", f.target, rollErr)
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitLeader polls env until a ledger node leads, for at most wait.
func waitLeader(ctx context.Context, env Env, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(rollPoll)
	defer t.Stop()
	for {
		if _, ok := env.LeaderNode(); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w within %v: %w", ErrNoLeader, wait, ctx.Err())
		case <-t.C:
		}
	}
}

// note records a note event at the current time.
func note(env Env, name, target, detail string) {
	env.Record(results.Event{At: env.Elapsed(), Kind: results.EventNote, Name: name, Target: target, Detail: detail})
}

// checkRunning reports whether every node is one the lab runs as a process.
func checkRunning(env Env, nodes []regions.NodeID) error {
	running := env.Nodes()
	for _, id := range nodes {
		if !slices.Contains(running, id) {
			return fmt.Errorf("%s: %w", id, ErrNotRunning)
		}
	}
	return nil
}

func idStrings(ids []regions.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// parseNode reads a target that must be one node id of the topology.
func parseNode(topo regions.Topology, target string) (regions.NodeID, error) {
	id := regions.NodeID(strings.TrimSpace(target))
	if id == "" {
		return "", fmt.Errorf("a target is required: %s", targetNode)
	}
	if !strings.Contains(string(id), ":") {
		return "", fmt.Errorf("want %s, a zone or region is not a node", targetNode)
	}
	if _, ok := topo.Node(id); !ok {
		return "", fmt.Errorf("no node %s in the topology", id)
	}
	return id, nil
}

func newCrash(topo regions.Topology, target string) (Fault, error) {
	id, err := parseNode(topo, target)
	if err != nil {
		return nil, targetError(target, err)
	}
	return &processFault{name: "crash", target: target, pick: func(Env) ([]regions.NodeID, string, error) {
		return []regions.NodeID{id}, "", nil
	}}, nil
}

func newRestart(topo regions.Topology, target string) (Fault, error) {
	id, err := parseNode(topo, target)
	if err != nil {
		return nil, targetError(target, err)
	}
	return &restartFault{target: id}, nil
}

func newLeaderKill() Fault {
	return &processFault{name: "leader-kill", pick: func(env Env) ([]regions.NodeID, string, error) {
		leader, ok := env.LeaderNode()
		if !ok {
			return nil, "", ErrNoLeader
		}
		return []regions.NodeID{leader}, "the leader", nil
	}}
}

func newRollingRestart(topo regions.Topology, target string, v values) (Fault, error) {
	f := &rollingRestart{target: target, downtime: v.dur("downtime"), interval: v.dur("interval")}
	if strings.TrimSpace(target) == "" {
		ledger := ledgerNodes(topo)
		f.members = func(env Env) []regions.NodeID {
			return slices.DeleteFunc(slices.Clone(ledger), func(id regions.NodeID) bool { return !slices.Contains(env.Nodes(), id) })
		}
		return f, nil
	}
	sel, err := parseSelection(topo, target, false)
	if err != nil {
		return nil, targetError(target, err)
	}
	f.members = func(env Env) []regions.NodeID {
		return slices.DeleteFunc(env.Nodes(), func(id regions.NodeID) bool { return !sel.inside[id] })
	}
	return f, nil
}

func newZoneDown(topo regions.Topology, target string, v values) (Fault, error) {
	zone, err := parseZone(topo, target)
	if err != nil {
		return nil, targetError(target, err)
	}
	if v.str("mode") == "partition" {
		return newPartition("zone-down", topo, target)
	}
	// Everything the lab runs in the zone goes: ledger node, gateways, the region's Redis (in its first
	// zone), in the order Env.Nodes lists them; heal restarts them in reverse, so a zone's gateways come back first.
	// What the network does about it (links refused, the region's entry point when no gateway is left) is
	// the Env's part of CrashNode.
	return &processFault{name: "zone-down", target: target, notes: true, pick: func(env Env) ([]regions.NodeID, string, error) {
		var in []regions.NodeID
		for _, id := range env.Nodes() {
			if n, ok := topo.Node(id); ok && n.Placement == zone {
				in = append(in, id)
			}
		}
		if len(in) == 0 {
			return nil, "", fmt.Errorf("zone %s: %w", zone, ErrNotRunning)
		}
		return in, "", nil
	}}, nil
}
