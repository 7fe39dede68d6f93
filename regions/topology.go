package regions

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits on a topology: the lab runs on one machine, and every region needs
// its own loopback entry address (127.0.1.N).
const (
	MaxRegions       = 32
	MaxZones         = 16
	MaxGatewaysPer   = 16
	MaxWeight        = 1000
	MaxOneWayLatency = 10 * time.Second
)

// Topology is the shape of the simulated system: regions and their zones,
// where the ledger nodes sit, how many gateways each region runs, the one-way
// latency matrix and the lab DNS settings. Every region also runs one Redis,
// placed in its first zone, and one client population (the load generator's
// clients in that region).
//
// It is plain data with yaml tags; the scenario loader decodes the
// `topology:` block of a scenario into it. Durations are Go duration strings
// ("1ms", "35ms", "2s"); jitter is a percentage ("10%"). Decode onto
// DefaultTopology() to keep defaults for fields a scenario leaves out (slices
// such as regions and ledger.nodes are replaced whole), then call Validate.
//
//	regions:
//	  - {name: us-east, zones: [a, b, c], weight: 3}
//	  - {name: eu-west, zones: [a]}
//	latency:
//	  zone: 1ms          # one-way, between two zones of one region
//	  region: 35ms       # one-way, between two regions
//	  jitter: 10%        # of each link's one-way latency
//	  overrides:         # per pair, symmetric; the most specific match wins
//	    - {a: us-east, b: eu-west, one_way: 40ms}
//	    - {a: us-east/a, b: us-east/c, one_way: 2ms}
//	ledger: {nodes: [us-east/a, us-east/b, us-east/c], election_timeout: 300ms, heartbeat_timeout: 75ms}
//	gateways: {per_region: 1, cache: safe, lock: safe}
//	dns: {ttl: 2s, health_interval: 500ms, health_threshold: 3}
type Topology struct {
	Regions  []Region `yaml:"regions"`
	Latency  Latency  `yaml:"latency"`
	Ledger   Ledger   `yaml:"ledger"`
	Gateways Gateways `yaml:"gateways"`
	DNS      DNS      `yaml:"dns"`
}

// Region is one region: its name, its zones, and its weight in the lab DNS
// (its share of new clients while healthy, 1 to MaxWeight; nil, left out,
// means 1 — a pointer so that a written 0 is refused rather than read as
// "unset", issue 10).
type Region struct {
	Name   string   `yaml:"name"`
	Zones  []string `yaml:"zones"`
	Weight *int     `yaml:"weight"`
}

// Latency is the one-way latency matrix. Two nodes in the same zone have no
// added latency; two zones of one region are Zone apart; two regions are
// Region apart, unless an override names the pair. A placement without a zone
// (a region's clients) is Zone away from every zone of its own region.
// Latencies are whole milliseconds: toxiproxy's latency toxic has millisecond
// resolution, and Validate refuses anything finer rather than round silently.
type Latency struct {
	Zone      time.Duration     `yaml:"zone"`
	Region    time.Duration     `yaml:"region"`
	Jitter    Percent           `yaml:"jitter"`
	Overrides []LatencyOverride `yaml:"overrides"`
}

// LatencyOverride sets the one-way latency between A and B (either order).
// Each side is a region ("eu-west") or a zone ("us-east/a"). When several
// overrides match a pair, the one naming more zones wins; among equally
// specific ones, the first listed.
type LatencyOverride struct {
	A      Placement     `yaml:"a"`
	B      Placement     `yaml:"b"`
	OneWay time.Duration `yaml:"one_way"`
}

// Ledger places the ledger nodes (at most one per zone) and carries the raft
// timeouts the lab hands to each node's configuration.
type Ledger struct {
	Nodes            []Placement   `yaml:"nodes"`
	ElectionTimeout  time.Duration `yaml:"election_timeout"`
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// InitialLeader, when set (one of Nodes), is the node that leads when the load starts: the lab hands it
	// leadership (raft's leadership transfer) after the first election, so a fault aimed at its zone always
	// takes the leader. Unset: whichever node wins the first election (any of them, by chance).
	InitialLeader *Placement `yaml:"initial_leader"`
}

// Gateways says how many gateway nodes each region runs and how their Redis-backed mechanisms run. Gateway
// i of a region (from 0) sits in zone i mod len(zones). Each mechanism is "off" (the default: the gateway
// relies on the ledger alone), "safe" (what a careful team ships) or "naive" (what a team writes first;
// the scenarios that catch each naive mode are in the library). A region's Redis (its RedisNode) runs only
// when some mechanism is on.
type Gateways struct {
	PerRegion int `yaml:"per_region"`
	// Cache is the cache-aside of balance reads (nodes/gateway RedisBalanceCache): naive = one fixed
	// CacheTTL; safe = TTL jitter, one rebuild per key, cached absence, serve-stale.
	Cache string `yaml:"cache"`
	// Lock is the per-account lock: naive = SETNX with LockTTL on both accounts around read-check-write (the
	// ledger's blind balance writes) and an unconditional DEL; safe = a fenced lock (INCR token,
	// compare-and-delete) on the debited account around the ledger's own conditional transfer.
	Lock string `yaml:"lock"`
	// Idempotency: naive = SETNX keys with IdempotencyTTL decide, and a claimed payment goes to the ledger
	// under a fresh transfer id; safe = the ledger's own idempotency by payment key, results also cached.
	Idempotency string `yaml:"idempotency"`
	// CacheTTL, LockTTL and IdempotencyTTL are the mechanisms' TTLs (defaults 2s, 3s, 60s).
	CacheTTL       time.Duration `yaml:"cache_ttl"`
	LockTTL        time.Duration `yaml:"lock_ttl"`
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	// Limiter, when set, is a token bucket per account and one for all requests, in Redis.
	Limiter *Limiter `yaml:"limiter"`
}

// Limiter sets the gateways' rate limiter (nodes/gateway RedisLimiter): Rate tokens per second up to Burst
// per account, GlobalRate up to GlobalBurst over every request of the region's gateways (0: that bucket
// off); OnError "open" (default: let requests through when Redis fails) or "closed" (refuse them).
type Limiter struct {
	Rate        float64 `yaml:"rate"`
	Burst       int     `yaml:"burst"`
	GlobalRate  float64 `yaml:"global_rate"`
	GlobalBurst int     `yaml:"global_burst"`
	OnError     string  `yaml:"on_error"`
}

// UsesRedis says whether any gateway mechanism needs the regions' Redis.
func (g Gateways) UsesRedis() bool {
	return g.Cache != ModeOff || g.Lock != ModeOff || g.Idempotency != ModeOff || g.Limiter != nil
}

// DNS holds the lab DNS settings: the TTL of pay.lab. answers, how often the
// health checker probes each region, and how many consecutive failures take a
// region out (and successes bring it back).
type DNS struct {
	TTL             time.Duration `yaml:"ttl"`
	HealthInterval  time.Duration `yaml:"health_interval"`
	HealthThreshold int           `yaml:"health_threshold"`
}

// The modes of a gateway mechanism (Gateways).
const (
	ModeOff   = "off"
	ModeSafe  = "safe"
	ModeNaive = "naive"
)

// DefaultTopology returns the design brief's example: us-east with zones
// a, b, c holding the three ledger nodes, eu-west with one zone, 1 ms between
// zones, 35 ms between regions, 10% jitter, one gateway per region, a 2 s DNS
// TTL checked every 500 ms with a threshold of 3.
func DefaultTopology() Topology {
	return Topology{
		Regions: []Region{
			{Name: "us-east", Zones: []string{"a", "b", "c"}},
			{Name: "eu-west", Zones: []string{"a"}},
		},
		Latency: Latency{Zone: time.Millisecond, Region: 35 * time.Millisecond, Jitter: 10},
		Ledger: Ledger{
			Nodes: []Placement{
				{Region: "us-east", Zone: "a"}, {Region: "us-east", Zone: "b"}, {Region: "us-east", Zone: "c"},
			},
			ElectionTimeout:  300 * time.Millisecond,
			HeartbeatTimeout: 75 * time.Millisecond,
		},
		Gateways: Gateways{PerRegion: 1, Cache: ModeOff, Lock: ModeOff, Idempotency: ModeOff, CacheTTL: 2 * time.Second, LockTTL: 3 * time.Second, IdempotencyTTL: time.Minute},
		DNS:      DNS{TTL: 2 * time.Second, HealthInterval: 500 * time.Millisecond, HealthThreshold: 3},
	}
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// FieldError is one problem Topology.Validate found: the offending field by its YAML path (e.g.
// "ledger.nodes[1]") and what is wrong with it.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks every field and the fields against each other; the error
// joins (errors.Join) one *FieldError per problem found.
func (t Topology) Validate() error {
	var p problems
	t.checkRegions(&p)
	t.checkLatencies(&p)
	t.checkLedger(&p)
	t.checkGatewaysAndDNS(&p)
	return errors.Join(p...)
}

// problems collects the *FieldErrors of one Validate, in the order found.
type problems []error

func (p *problems) bad(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// checkRegions checks the regions, their names, zones and weights.
func (t Topology) checkRegions(p *problems) {
	switch {
	case len(t.Regions) == 0:
		p.bad("regions", "at least one region is required")
	case len(t.Regions) > MaxRegions:
		p.bad("regions", "%d regions, at most %d", len(t.Regions), MaxRegions)
	}
	seen := map[string]bool{}
	for i, r := range t.Regions {
		f := fmt.Sprintf("regions[%d]", i)
		if !namePattern.MatchString(r.Name) {
			p.bad(f+".name", "%q is not a valid name (lower-case letters, digits and '-', at most 32)", r.Name)
		} else if seen[r.Name] {
			p.bad(f+".name", "region %q is listed twice", r.Name)
		}
		seen[r.Name] = true
		if len(r.Zones) == 0 || len(r.Zones) > MaxZones {
			p.bad(f+".zones", "%d zones, want 1 to %d", len(r.Zones), MaxZones)
		}
		zones := map[string]bool{}
		for j, z := range r.Zones {
			if !namePattern.MatchString(z) {
				p.bad(fmt.Sprintf("%s.zones[%d]", f, j), "%q is not a valid name (lower-case letters, digits and '-', at most 32)", z)
			} else if zones[z] {
				p.bad(fmt.Sprintf("%s.zones[%d]", f, j), "zone %q is listed twice", z)
			}
			zones[z] = true
		}
		if w := r.Weight; w != nil && (*w < 1 || *w > MaxWeight) {
			p.bad(f+".weight", "%d, want 1 to %d (leave it out for 1)", *w, MaxWeight)
		}
	}
}

// checkLatencies checks the zone and region latencies, the jitter and the overrides.
func (t Topology) checkLatencies(p *problems) {
	checkLatency := func(field string, d time.Duration) {
		switch {
		case d < 0 || d > MaxOneWayLatency:
			p.bad(field, "%v, want 0 to %v", d, MaxOneWayLatency)
		case d%time.Millisecond != 0:
			p.bad(field, "%v is not a whole number of milliseconds (toxiproxy's latency resolution)", d)
		}
	}
	checkLatency("latency.zone", t.Latency.Zone)
	checkLatency("latency.region", t.Latency.Region)
	if t.Latency.Jitter < 0 || t.Latency.Jitter > 100 || math.IsNaN(float64(t.Latency.Jitter)) {
		p.bad("latency.jitter", "%v, want 0%% to 100%%", t.Latency.Jitter)
	}
	pairs := map[[2]Placement]bool{}
	for i, o := range t.Latency.Overrides {
		f := fmt.Sprintf("latency.overrides[%d]", i)
		if err := t.checkPlacement(o.A, false); err != nil {
			p.bad(f+".a", "%v", err)
		}
		if err := t.checkPlacement(o.B, false); err != nil {
			p.bad(f+".b", "%v", err)
		}
		if o.A == o.B {
			p.bad(f, "a and b are both %s", o.A)
		}
		key := [2]Placement{o.A, o.B}
		if o.B.String() < o.A.String() {
			key = [2]Placement{o.B, o.A}
		}
		if pairs[key] {
			p.bad(f, "the pair %s, %s is overridden twice", o.A, o.B)
		}
		pairs[key] = true
		checkLatency(f+".one_way", o.OneWay)
	}
}

// checkLedger checks the ledger nodes' placements (one per zone), the initial leader and the raft timeouts.
func (t Topology) checkLedger(p *problems) {
	if len(t.Ledger.Nodes) == 0 {
		p.bad("ledger.nodes", "at least one ledger node is required")
	}
	placed := map[Placement]bool{}
	for i, n := range t.Ledger.Nodes {
		f := fmt.Sprintf("ledger.nodes[%d]", i)
		if err := t.checkPlacement(n, true); err != nil {
			p.bad(f, "%v", err)
		} else if placed[n] {
			p.bad(f, "%s already holds a ledger node (at most one per zone)", n)
		}
		placed[n] = true
	}
	if il := t.Ledger.InitialLeader; il != nil && !placed[*il] {
		p.bad("ledger.initial_leader", "%s holds no ledger node (nodes: %v)", *il, t.Ledger.Nodes)
	}
	if t.Ledger.HeartbeatTimeout <= 0 {
		p.bad("ledger.heartbeat_timeout", "%v, must be positive", t.Ledger.HeartbeatTimeout)
	}
	if t.Ledger.ElectionTimeout < t.Ledger.HeartbeatTimeout {
		p.bad("ledger.election_timeout", "%v is shorter than ledger.heartbeat_timeout %v", t.Ledger.ElectionTimeout, t.Ledger.HeartbeatTimeout)
	}
}

// checkMechanisms checks the gateways' Redis-backed mechanisms: modes, TTLs and the limiter.
func (t Topology) checkMechanisms(p *problems) {
	g := t.Gateways
	for _, m := range []struct{ field, mode string }{{"cache", g.Cache}, {"lock", g.Lock}, {"idempotency", g.Idempotency}} {
		if m.mode != ModeOff && m.mode != ModeSafe && m.mode != ModeNaive {
			p.bad("gateways."+m.field, "%q, want %q, %q or %q", m.mode, ModeOff, ModeSafe, ModeNaive)
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"cache_ttl", g.CacheTTL}, {"lock_ttl", g.LockTTL}, {"idempotency_ttl", g.IdempotencyTTL}} {
		if d.v < time.Millisecond || d.v > time.Hour {
			p.bad("gateways."+d.field, "%v, want 1ms to 1h", d.v)
		}
	}
	if l := g.Limiter; l != nil {
		switch {
		case l.Rate < 0 || l.GlobalRate < 0:
			p.bad("gateways.limiter", "rates %g and %g must not be negative", l.Rate, l.GlobalRate)
		case l.Rate == 0 && l.GlobalRate == 0:
			p.bad("gateways.limiter", "set rate, global_rate or both (a limiter with neither limits nothing)")
		}
		if l.Rate > 0 && l.Burst < 1 {
			p.bad("gateways.limiter.burst", "%d, want at least 1 with a rate", l.Burst)
		}
		if l.GlobalRate > 0 && l.GlobalBurst < 1 {
			p.bad("gateways.limiter.global_burst", "%d, want at least 1 with a global_rate", l.GlobalBurst)
		}
		if l.OnError != "" && l.OnError != "open" && l.OnError != "closed" {
			p.bad("gateways.limiter.on_error", "%q, want \"open\" or \"closed\"", l.OnError)
		}
	}
}

// checkGatewaysAndDNS checks the gateways' count and modes and the lab DNS's TTL and health checks.
func (t Topology) checkGatewaysAndDNS(p *problems) {
	if t.Gateways.PerRegion < 1 || t.Gateways.PerRegion > MaxGatewaysPer {
		p.bad("gateways.per_region", "%d, want 1 to %d", t.Gateways.PerRegion, MaxGatewaysPer)
	}
	t.checkMechanisms(p)
	if t.DNS.TTL < time.Second || t.DNS.TTL%time.Second != 0 {
		p.bad("dns.ttl", "%v, want a whole number of seconds, at least 1s (DNS TTLs are seconds)", t.DNS.TTL)
	}
	if t.DNS.HealthInterval < 10*time.Millisecond {
		p.bad("dns.health_interval", "%v, want at least 10ms", t.DNS.HealthInterval)
	}
	if t.DNS.HealthThreshold < 1 || t.DNS.HealthThreshold > 100 {
		p.bad("dns.health_threshold", "%d, want 1 to 100", t.DNS.HealthThreshold)
	}
}

// checkPlacement reports whether p names a region of t and, when it has a
// zone (required if needZone), a zone of that region.
func (t Topology) checkPlacement(p Placement, needZone bool) error {
	r, ok := t.Region(p.Region)
	if !ok {
		return fmt.Errorf("%s: no region %q in regions", p, p.Region)
	}
	if p.Zone == "" {
		if needZone {
			return fmt.Errorf("%s: a zone is required (region/zone)", p)
		}
		return nil
	}
	for _, z := range r.Zones {
		if z == p.Zone {
			return nil
		}
	}
	return fmt.Errorf("%s: region %q has no zone %q", p, p.Region, p.Zone)
}

// Region returns the region called name.
func (t Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// EffectiveWeight is the region's DNS weight: 1 when the topology gives none.
func (r Region) EffectiveWeight() int {
	if r.Weight == nil {
		return 1
	}
	return *r.Weight
}

// EntryIP is the loopback address of a region's entry point: 127.0.1.N for
// the N-th region (from 1) in topology order. The lab DNS answers pay.lab.
// with these addresses.
func (t Topology) EntryIP(region string) (netip.Addr, bool) {
	for i, r := range t.Regions {
		if r.Name == region {
			return netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}), true
		}
	}
	return netip.Addr{}, false
}

// OneWay is the configured one-way latency between two placements, before
// jitter. See Latency for the rules.
func (t Topology) OneWay(a, b Placement) time.Duration {
	if a.Region == b.Region && a.Zone == b.Zone && a.Zone != "" {
		return 0
	}
	best, bestScore := time.Duration(-1), -1
	for _, o := range t.Latency.Overrides {
		if score, ok := overrideMatch(o, a, b); ok && score > bestScore {
			best, bestScore = o.OneWay, score
		}
	}
	if bestScore >= 0 {
		return best
	}
	if a.Region == b.Region {
		return t.Latency.Zone
	}
	return t.Latency.Region
}

// JitterFor is the jitter applied to a link whose one-way latency is d:
// Latency.Jitter percent of d, rounded to whole milliseconds.
func (t Topology) JitterFor(d time.Duration) time.Duration {
	j := time.Duration(float64(d) * float64(t.Latency.Jitter) / 100)
	return j.Round(time.Millisecond)
}

// overrideMatch reports whether o covers the pair (a, b) in either order, and
// how specific it is (the number of zones it names).
func overrideMatch(o LatencyOverride, a, b Placement) (int, bool) {
	covers := func(side, p Placement) bool {
		return side.Region == p.Region && (side.Zone == "" || side.Zone == p.Zone)
	}
	score := 0
	if o.A.Zone != "" {
		score++
	}
	if o.B.Zone != "" {
		score++
	}
	if covers(o.A, a) && covers(o.B, b) || covers(o.A, b) && covers(o.B, a) {
		return score, true
	}
	return 0, false
}

// Placement is where something sits: a region and, usually, a zone. Its text
// form (YAML included) is "region/zone", or "region" alone for something
// somewhere in a region (a region's clients, a region-wide latency override).
type Placement struct {
	Region string
	Zone   string
}

// ParsePlacement reads "region/zone" or "region".
func ParsePlacement(s string) (Placement, error) {
	region, zone, hasZone := strings.Cut(s, "/")
	if region == "" || hasZone && zone == "" || strings.Contains(zone, "/") {
		return Placement{}, fmt.Errorf("placement %q: want region/zone or region", s)
	}
	return Placement{Region: region, Zone: zone}, nil
}

// String returns "region/zone", or "region" when there is no zone.
func (p Placement) String() string {
	if p.Zone == "" {
		return p.Region
	}
	return p.Region + "/" + p.Zone
}

// MarshalText implements encoding.TextMarshaler (used by YAML and JSON).
func (p Placement) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (used by YAML and JSON).
func (p *Placement) UnmarshalText(b []byte) error {
	v, err := ParsePlacement(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Percent is a percentage, written "10%" (or a bare "10") in text and YAML.
type Percent float64

// String returns e.g. "10%".
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"
}

// MarshalText implements encoding.TextMarshaler.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Percent) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(b)), "%"))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("percentage %q: %w", b, err)
	}
	*p = Percent(v)
	return nil
}
