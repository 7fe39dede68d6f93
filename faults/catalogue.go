package faults

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"paylab/regions"
)

// Kind is one entry of the catalogue: a fault as scenarios name it, and how
// to build it from a timeline step's target and parameters.
type Kind struct {
	// Name is how a scenario names the fault ("zone-down").
	Name string
	// Doc is one line saying what the fault does and what heal restores.
	Doc string
	// Target is the grammar of the target the fault takes.
	Target string
	// Params are the parameters the fault takes, in the order the docs list them.
	Params []Param

	build func(topo regions.Topology, target string, v values) (Fault, error)
}

// New validates target against topo and params against the kind's
// parameters (unknown names, types, bounds), and returns the fault, not yet
// injected. Each problem names the parameter, or the target; the caller
// prefixes the step's position in its file.
func (k Kind) New(topo regions.Topology, target string, params map[string]any) (Fault, error) {
	v, err := parseParams(k.Params, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Name, err)
	}
	f, err := k.build(topo, target, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Name, err)
	}
	return f, nil
}

// Lookup returns the kind called name.
func Lookup(name string) (Kind, bool) {
	for _, k := range Catalogue() {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Names lists every kind's name, in catalogue order.
func Names() []string {
	var out []string
	for _, k := range Catalogue() {
		out = append(out, k.Name)
	}
	return out
}

// WriteCatalogue prints the catalogue for people (`paylab faults`): each
// kind, its target and its parameters with their types and defaults.
func WriteCatalogue(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range Catalogue() {
		fmt.Fprintf(tw, "%s\t%s\n", k.Name, k.Doc)
		fmt.Fprintf(tw, "\ttarget: %s\n", k.Target)
		for _, p := range k.Params {
			def := "required"
			if !p.Required {
				def = "default " + p.Default
			}
			typ := string(p.Type)
			if p.Type == Choice {
				typ = strings.Join(p.Choices, "|")
			}
			fmt.Fprintf(tw, "\t  %s (%s, %s): %s\n", p.Name, typ, def, p.Doc)
		}
	}
	return tw.Flush()
}

// Bounds of parameters.
const (
	maxLatency   = regions.MaxOneWayLatency
	maxResetWait = time.Minute
	maxSliceWait = time.Second
	maxSlice     = 1 << 20  // bytes
	maxRateKBps  = 10 << 20 // 10 GB/s: effectively unlimited
	maxDowntime  = time.Minute
	maxInterval  = 10 * time.Minute
)

// Parameters several kinds share.
var (
	paramDirection = Param{Name: "direction", Type: Choice, Choices: []string{dirBoth, dirOut, dirIn}, Default: dirBoth,
		Doc: "which bytes: both, out (leaving the target's side) or in (reaching it); for a link a->b, out is a's bytes"}
	paramToxicity = Param{Name: "toxicity", Type: Fraction, Default: "1",
		Doc: "fraction of connections affected, 0 to 1"}
)

// Catalogue returns every fault paylab knows, in the order the docs list
// them: network, partitions, processes, Redis, DNS. It builds a new slice each time;
// there is no registry to mutate.
func Catalogue() []Kind {
	return []Kind{
		// Network.
		{
			Name:   "latency",
			Doc:    "add one-way latency (± jitter) to every link crossing the target's edge; heal removes exactly that",
			Target: targetLinks,
			Params: []Param{
				{Name: "latency", Type: Duration, Required: true, check: wholeMillis(maxLatency),
					Doc: "added to each direction it acts on (a round trip across grows by twice this), whole ms, at most 10s"},
				{Name: "jitter", Type: Duration, Default: "0s", check: wholeMillis(maxLatency),
					Doc: "random ± spread of each delay, whole ms"},
				paramDirection, paramToxicity,
			},
			build: func(topo regions.Topology, target string, v values) (Fault, error) {
				lat, jit := v.dur("latency"), v.dur("jitter")
				if jit > lat {
					return nil, fmt.Errorf("parameter jitter: %v is more than latency %v", jit, lat)
				}
				return newToxicFault("latency", topo, target, v, func(d regions.Direction) regions.Toxic {
					return regions.LatencyToxic(d, lat, jit)
				})
			},
		},
		{
			Name:   "bandwidth",
			Doc:    "limit the throughput of every link crossing the target's edge",
			Target: targetLinks,
			Params: []Param{
				{Name: "rate", Type: Int, Required: true, check: positive(maxRateKBps),
					Doc: "kilobytes per second per connection and direction, more than 0"},
				paramDirection, paramToxicity,
			},
			build: func(topo regions.Topology, target string, v values) (Fault, error) {
				rate := v.int("rate")
				return newToxicFault("bandwidth", topo, target, v, func(d regions.Direction) regions.Toxic {
					return regions.BandwidthToxic(d, rate)
				})
			},
		},
		{
			Name:   "slicer",
			Doc:    "cut the bytes of every link crossing the target's edge into small delayed chunks",
			Target: targetLinks,
			Params: []Param{
				{Name: "average_size", Type: Int, Default: "64", check: positive(maxSlice), Doc: "mean chunk size in bytes"},
				{Name: "size_variation", Type: Int, Default: "0", Doc: "± bytes around average_size, less than it"},
				{Name: "delay", Type: Duration, Default: "0s", check: atMost(maxSliceWait), Doc: "pause between chunks (µs resolution), at most 1s"},
				paramDirection, paramToxicity,
			},
			build: func(topo regions.Topology, target string, v values) (Fault, error) {
				avg, vari, delay := v.int("average_size"), v.int("size_variation"), v.dur("delay")
				if vari >= avg {
					return nil, fmt.Errorf("parameter size_variation: %d is not less than average_size %d", vari, avg)
				}
				return newToxicFault("slicer", topo, target, v, func(d regions.Direction) regions.Toxic {
					return regions.SlicerToxic(d, int(avg), int(vari), delay)
				})
			},
		},
		{
			Name:   "reset-peer",
			Doc:    "reset (TCP RST) connections through every link crossing the target's edge, at once or after a timeout; toxicity < 1 makes it packet-loss-like",
			Target: targetLinks,
			Params: []Param{
				{Name: "timeout", Type: Duration, Default: "0s", check: wholeMillis(maxResetWait),
					Doc: "how long a connection lives before the reset, whole ms, 0 resets at once"},
				paramDirection, paramToxicity,
			},
			build: func(topo regions.Topology, target string, v values) (Fault, error) {
				timeout := v.dur("timeout")
				return newToxicFault("reset-peer", topo, target, v, func(d regions.Direction) regions.Toxic {
					return regions.ResetPeerToxic(d, timeout)
				})
			},
		},

		// Partitions.
		{
			Name:   "partition",
			Doc:    "cut a link, or isolate a node, zone or region: nothing crosses its edge either way, live connections close at once",
			Target: targetLinks,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newPartition("partition", topo, target)
			},
		},
		{
			Name:   "asymmetric-partition",
			Doc:    "drop the bytes crossing the target's edge in one direction only; the other direction keeps working",
			Target: targetLinks,
			Params: []Param{
				{Name: "direction", Type: Choice, Choices: []string{dirOut, dirIn}, Default: dirOut,
					Doc: "out: the target's bytes are lost, it still hears the rest; in: it cannot hear, its bytes still arrive"},
			},
			build: func(topo regions.Topology, target string, v values) (Fault, error) {
				return newAsymmetricPartition(topo, target, v)
			},
		},
		{
			Name:   "majority-minority",
			Doc:    "split the ledger nodes into a minority of ⌊(n−1)/2⌋ and a majority that cannot reach each other (gateway links stay up)",
			Target: "none (the minority is chosen at inject by the leader parameter), or " + targetNodes + ", naming the minority's ledger nodes",
			Params: []Param{
				{Name: "leader", Type: Choice, Choices: []string{"minority", "majority"}, Default: "minority",
					Doc: "without a target: the side the leader at inject time ends up on"},
			},
			build: newMajorityMinority,
		},
		{
			Name:   "bridge",
			Doc:    "split the other ledger nodes into two halves that cannot reach each other; the bridge node reaches both",
			Target: "none (the first ledger node that is not leading), or " + targetNodes + ", holding exactly one ledger node: the bridge",
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newBridge(topo, target)
			},
		},
		{
			Name:   "majorities-ring",
			Doc:    "every ledger node hears a majority, no two hear the same one (Jepsen's ring, in topology order; one-way drops)",
			Target: targetNone,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				if err := requireNoTarget(target); err != nil {
					return nil, targetError(target, err)
				}
				return newMajoritiesRing(topo)
			},
		},
		{
			Name:   "leader-isolation",
			Doc:    "partition whoever leads at inject time from every node it has a link with; heal reconnects it",
			Target: targetNone,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				if err := requireNoTarget(target); err != nil {
					return nil, targetError(target, err)
				}
				return newLeaderIsolation(topo), nil
			},
		},

		// Processes.
		{
			Name:   "crash",
			Doc:    "crash a node abruptly (no leadership transfer, no clean shutdown); heal restarts it from its files",
			Target: targetNode,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newCrash(topo, target)
			},
		},
		{
			Name:   "restart",
			Doc:    "crash a node and start it again at once from its files; over when injected, nothing to heal",
			Target: targetNode,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newRestart(topo, target)
			},
		},
		{
			Name:   "pause",
			Doc:    "freeze every link of a node, zone or region without losing a byte, as SIGSTOP looks to its peers (its own timers run on); heal delivers what was held",
			Target: targetNodes + ": every link crossing their edge",
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newPause(topo, target)
			},
		},
		{
			Name:   "rolling-restart",
			Doc:    "crash and restart nodes one at a time, the leader last, waiting for a leader after each; heal stops the roll and restarts a node it left down",
			Target: "none (every ledger node), or " + targetNodes + " (every node the lab runs in them)",
			Params: []Param{
				{Name: "downtime", Type: Duration, Default: "500ms", check: atMost(maxDowntime), Doc: "how long each node stays down, at most 1m"},
				{Name: "interval", Type: Duration, Default: "2s", check: atMost(maxInterval), Doc: "from a restart (and a leader) to the next crash, at most 10m"},
			},
			build: newRollingRestart,
		},
		{
			Name:   "leader-kill",
			Doc:    "crash whoever leads at inject time, abruptly; heal restarts it",
			Target: targetNone,
			build: func(_ regions.Topology, target string, _ values) (Fault, error) {
				if err := requireNoTarget(target); err != nil {
					return nil, targetError(target, err)
				}
				return newLeaderKill(), nil
			},
		},
		{
			Name:   "zone-down",
			Doc:    "take a whole zone down: crash every node the lab runs in it (ledger, gateways; the region's entry point refuses once no gateway is left), or cut it off; heal restarts them or reconnects it",
			Target: targetZone,
			Params: []Param{
				{Name: "mode", Type: Choice, Choices: []string{"crash", "partition"}, Default: "crash",
					Doc: "crash: the processes die; partition: they live on, unreachable"},
			},
			build: newZoneDown,
		},

		// Redis (the regions' Redis, run when a gateway mechanism is on).
		{
			Name:   "redis-down",
			Doc:    "kill a region's Redis (redis-server: SIGKILL of its process group); its gateways' links refuse; heal starts it again on the same port, empty, as a restarted cache is",
			Target: targetRedisRegion,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newRedisDown(topo, target)
			},
		},
		{
			Name:   "redis-latency",
			Doc:    "add latency (± jitter) to both directions of every gateway→Redis link of a region; heal removes exactly that",
			Target: targetRedisRegion,
			Params: []Param{
				{Name: "latency", Type: Duration, Required: true, check: wholeMillis(maxLatency),
					Doc: "added to each direction (a command's round trip grows by twice this), whole ms, at most 10s"},
				{Name: "jitter", Type: Duration, Default: "0s", check: wholeMillis(maxLatency),
					Doc: "random ± spread of each delay, whole ms"},
				paramToxicity,
			},
			build: newRedisLatency,
		},
		{
			Name:   "redis-partition",
			Doc:    "cut one gateway off from its region's Redis (both directions, live connections closed); heal reconnects it",
			Target: targetGateway,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newRedisPartition(topo, target)
			},
		},
		{
			Name:   "cache-flush",
			Doc:    "FLUSHALL on a region's Redis: cached balances, locks, idempotency keys and rate limits are gone; heal: nothing to undo, keys refill",
			Target: targetRedisRegion,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newCacheFlush(topo, target)
			},
		},
		{
			Name:   "cache-avalanche",
			Doc:    "every cached balance of a region (<region>:bal:*) expires at one instant, 1 ms after inject; heal: nothing to undo, keys refill",
			Target: targetRedisRegion,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newCacheAvalanche(topo, target)
			},
		},

		// DNS.
		{
			Name:   "dns-remove-region",
			Doc:    "take a region out of the lab DNS's pay.lab. answers; heal puts it back",
			Target: targetRegion,
			build: func(topo regions.Topology, target string, _ values) (Fault, error) {
				return newDNSRemoveRegion(topo, target)
			},
		},
		{
			Name:   "dns-stale-cache",
			Doc:    "make a fraction of clients keep their cached DNS answer past its TTL; heal restores each region's previous fraction",
			Target: "none (every client region), or client regions, comma-separated",
			Params: []Param{
				{Name: "fraction", Type: Fraction, Default: "0.5", Doc: "share of each region's clients that ignore the TTL, 0 to 1"},
			},
			build: newDNSStaleCache,
		},
		{
			Name:   "dns-servfail",
			Doc:    "the lab DNS answers every query with SERVFAIL; heal makes it answer again",
			Target: targetDNS,
			build: func(_ regions.Topology, target string, _ values) (Fault, error) {
				return newDNSServfail(target)
			},
		},
		{
			Name:   "dns-slow",
			Doc:    "the lab DNS waits before every answer; heal makes it answer at once",
			Target: targetDNS,
			Params: []Param{
				{Name: "delay", Type: Duration, Required: true, check: positive(int64(dnsMaxDelay)), Doc: "wait before each answer, more than 0, at most 30s"},
			},
			build: func(_ regions.Topology, target string, v values) (Fault, error) {
				return newDNSSlow(target, v)
			},
		},
	}
}
