package faults

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/regions"
	"paylab/results"
)

// Fault is one fault bound to its target and parameters, ready to inject.
//
// Inject breaks something in the lab Env stands for; when it fails part-way,
// it undoes what it did before returning the error. Heal restores exactly the
// state before Inject (the toxics it added, the nodes it stopped, the DNS
// setting it changed) and nothing else; healing a fault that is not injected,
// or healing twice, does nothing and returns nil. A Fault may be injected
// again after it healed. Both are safe to call from different goroutines
// (the timeline's, and the lab's exit path).
type Fault interface {
	// Name is the catalogue name, as scenarios spell it ("zone-down").
	Name() string
	// Target is the target as the scenario wrote it ("us-east/a"; "" when
	// the fault picks its own, such as leader-kill).
	Target() string
	// Inject breaks the target.
	Inject(ctx context.Context, env Env) error
	// Heal undoes Inject exactly. Idempotent.
	Heal(ctx context.Context, env Env) error
}

// Detailer is an optional extra of a Fault: after Inject, what it acted on
// in words ("crashed ledger:us-east/b (the leader)", "6 links"), for the
// event the timeline records.
type Detailer interface {
	Detail() string
}

// OneShot is an optional extra of a Fault whose effect is over when Inject
// returns (restart): the timeline records its window from the start to the
// end of Inject, never keeps it active and never heals it.
type OneShot interface {
	OneShot()
}

// Env is what faults need from a running lab, and all they may touch. The
// lab (lab.Lab) implements it; the tests of this package implement it over a
// real network and ledger cluster. Every method is safe for concurrent use:
// a rolling restart calls them from its own goroutine while the timeline
// injects other faults.
type Env interface {
	// Network is the lab's network. Link faults add toxics to its proxies
	// (and only to links it has proxies for).
	Network() *regions.Network
	// DNS is the lab DNS server, or nil when the lab runs none (DNS faults
	// then fail to inject).
	DNS() *regions.DNSServer
	// Nodes returns the nodes running as processes that CrashNode and
	// RestartNode accept (ledger nodes, gateways, and each region's Redis
	// the lab started), up or down, in topology order. zone-down takes every
	// one placed in its zone.
	Nodes() []regions.NodeID
	// CrashNode stops a node abruptly — no leadership transfer, no clean
	// shutdown — and returns once it is down; links towards it then refuse
	// connections (regions.Network.NodeDown). A node already down is an
	// error.
	CrashNode(ctx context.Context, id regions.NodeID) error
	// RestartNode starts a crashed node again from its own files on its
	// old addresses, and returns once it serves (not once it caught up).
	// A node already up is an error.
	RestartNode(ctx context.Context, id regions.NodeID) error
	// Redis returns a client connected straight to region's Redis — not
	// through a gateway's link, so the fault's own commands cross no fault —
	// and whether that server is shared by every region (an external
	// REDIS_URL): a fault then touches only the region's keys ("<region>:").
	// The client belongs to the Env; callers do not close it. A region
	// without Redis (every gateway mechanism off): an error wrapping
	// ErrNoRedis.
	Redis(region string) (client *redis.Client, shared bool, err error)
	// LeaderNode is the ledger node that leads now, if one does.
	LeaderNode() (regions.NodeID, bool)
	// SetClientsIgnoreTTL makes fraction (0 to 1) of one client region's
	// clients keep using their cached DNS answers past the TTL, and returns
	// the fraction that did before, so Heal can put it back exactly.
	SetClientsIgnoreTTL(region string, fraction float64) (previous float64, err error)
	// Elapsed is the time since the run started: the clock of the timeline's
	// schedule and of every event's At and Until.
	Elapsed() time.Duration
	// Record receives the events of faults: every injected fault's window
	// (results.EventFault, At to Until), and notes such as a failed inject
	// or each step of a rolling restart.
	Record(e results.Event)
}

// Errors faults return; match them with errors.Is.
var (
	// ErrNoLeader: a fault that acts on the leader found none.
	ErrNoLeader = errors.New("no ledger leader")
	// ErrNoDNS: a DNS fault in a lab without a DNS server.
	ErrNoDNS = errors.New("the lab runs no DNS server")
	// ErrNoLinks: none of a fault's links has a proxy in the lab's network.
	ErrNoLinks = errors.New("no proxied link matches the target")
	// ErrNotRunning: a process fault's target is not a node the lab runs.
	ErrNotRunning = errors.New("not a node the lab runs as a process")
	// ErrNoRedis: a Redis fault on a lab or topology without Redis (every
	// gateway mechanism off: topology.gateways cache, lock, idempotency and
	// limiter).
	ErrNoRedis = errors.New("no Redis: every gateway mechanism is off")
)

// StaleClients is how many of populations client populations a stale-cache fault of fraction (0 to 1)
// turns stale: the fraction rounded up, so any fraction above 0 affects at least one. Every Env uses it.
func StaleClients(fraction float64, populations int) int {
	return min(populations, int(math.Ceil(fraction*float64(populations))))
}
