package regions

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaultTopologyIsValid(t *testing.T) {
	if err := DefaultTopology().Validate(); err != nil {
		t.Fatalf("DefaultTopology().Validate() = %v", err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Topology)
		want   string
	}{
		{"no regions", func(t *Topology) { t.Regions = nil; t.Ledger.Nodes = nil }, "regions: at least one region"},
		{"bad region name", func(t *Topology) { t.Regions[1].Name = "EU West" }, "regions[1].name"},
		{"duplicate zone", func(t *Topology) { t.Regions[0].Zones = []string{"a", "a"} }, "regions[0].zones[1]: zone \"a\" is listed twice"},
		{"negative weight", func(t *Topology) { w := -1; t.Regions[0].Weight = &w }, "regions[0].weight"},
		{"zero weight is refused, not read as 1", func(t *Topology) { w := 0; t.Regions[0].Weight = &w }, "regions[0].weight: 0, want 1 to"},
		{"sub-millisecond latency", func(t *Topology) { t.Latency.Zone = 1500 * time.Microsecond }, "latency.zone: 1.5ms is not a whole number of milliseconds"},
		{"negative latency", func(t *Topology) { t.Latency.Region = -time.Millisecond }, "latency.region"},
		{"jitter over 100%", func(t *Topology) { t.Latency.Jitter = 150 }, "latency.jitter"},
		{"override of unknown region", func(t *Topology) {
			t.Latency.Overrides = []LatencyOverride{{A: Placement{Region: "us-east"}, B: Placement{Region: "ap-south"}, OneWay: time.Millisecond}}
		}, "latency.overrides[0].b: ap-south: no region"},
		{"override twice", func(t *Topology) {
			o := LatencyOverride{A: Placement{Region: "us-east"}, B: Placement{Region: "eu-west"}, OneWay: time.Millisecond}
			t.Latency.Overrides = []LatencyOverride{o, {A: o.B, B: o.A, OneWay: 2 * time.Millisecond}}
		}, "latency.overrides[1]: the pair"},
		{"ledger node without zone", func(t *Topology) { t.Ledger.Nodes[0] = Placement{Region: "us-east"} }, "ledger.nodes[0]: us-east: a zone is required"},
		{"ledger node in unknown zone", func(t *Topology) { t.Ledger.Nodes[2].Zone = "z" }, "ledger.nodes[2]: us-east/z: region \"us-east\" has no zone \"z\""},
		{"two ledger nodes in one zone", func(t *Topology) { t.Ledger.Nodes[1] = t.Ledger.Nodes[0] }, "ledger.nodes[1]: us-east/a already holds"},
		{"election shorter than heartbeat", func(t *Topology) { t.Ledger.ElectionTimeout = 10 * time.Millisecond }, "ledger.election_timeout"},
		{"no gateways", func(t *Topology) { t.Gateways.PerRegion = 0 }, "gateways.per_region"},
		{"unknown cache mode", func(t *Topology) { t.Gateways.Cache = "yolo" }, "gateways.cache"},
		{"fractional TTL", func(t *Topology) { t.DNS.TTL = 1500 * time.Millisecond }, "dns.ttl"},
		{"zero threshold", func(t *Topology) { t.DNS.HealthThreshold = 0 }, "dns.health_threshold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topo := DefaultTopology()
			tc.change(&topo)
			err := topo.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	topo := DefaultTopology()
	topo.Gateways.PerRegion = 0
	topo.DNS.HealthThreshold = 0
	err := topo.Validate()
	if err == nil || !strings.Contains(err.Error(), "gateways.per_region") || !strings.Contains(err.Error(), "dns.health_threshold") {
		t.Fatalf("Validate() = %v, want both problems", err)
	}
}

func TestTopologyDecodesFromScenarioYAML(t *testing.T) {
	const doc = `
regions:
  - {name: us-east, zones: [a, b, c], weight: 3}
  - {name: eu-west, zones: [a]}
latency:
  zone: 2ms
  region: 40ms
  jitter: 10%
  overrides:
    - {a: us-east/a, b: us-east/c, one_way: 5ms}
ledger: {nodes: [us-east/a, us-east/b, eu-west/a], election_timeout: 200ms}
dns: {ttl: 1s}
`
	topo := DefaultTopology()
	if err := yaml.Unmarshal([]byte(doc), &topo); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := topo.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if topo.Regions[0].EffectiveWeight() != 3 || topo.Latency.Zone != 2*time.Millisecond || topo.Latency.Jitter != 10 {
		t.Errorf("decoded %+v", topo)
	}
	if got := topo.Ledger.Nodes[2]; got != (Placement{Region: "eu-west", Zone: "a"}) {
		t.Errorf("ledger.nodes[2] = %v", got)
	}
	// Fields the document leaves out keep their defaults.
	if topo.Ledger.HeartbeatTimeout != 75*time.Millisecond || topo.DNS.HealthThreshold != 3 {
		t.Errorf("defaults lost: %+v", topo)
	}
	if got := topo.OneWay(Placement{"us-east", "c"}, Placement{"us-east", "a"}); got != 5*time.Millisecond {
		t.Errorf("overridden zone pair = %v, want 5ms", got)
	}
}

func TestOneWayLatency(t *testing.T) {
	topo := DefaultTopology()
	topo.Regions = append(topo.Regions, Region{Name: "ap-south", Zones: []string{"a", "b"}})
	topo.Latency.Overrides = []LatencyOverride{
		{A: Placement{Region: "eu-west"}, B: Placement{Region: "ap-south"}, OneWay: 60 * time.Millisecond},
		{A: Placement{Region: "ap-south", Zone: "b"}, B: Placement{Region: "eu-west"}, OneWay: 70 * time.Millisecond},
		{A: Placement{Region: "us-east", Zone: "a"}, B: Placement{Region: "us-east", Zone: "b"}, OneWay: 3 * time.Millisecond},
	}
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	p := func(s string) Placement {
		v, err := ParsePlacement(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		a, b string
		want time.Duration
	}{
		{"us-east/a", "us-east/a", 0},
		{"us-east/a", "us-east/c", time.Millisecond},
		{"us-east/b", "us-east/a", 3 * time.Millisecond},
		{"us-east", "us-east/c", time.Millisecond}, // a region's clients are one zone hop away
		{"us-east/a", "eu-west/a", 35 * time.Millisecond},
		{"ap-south/a", "eu-west/a", 60 * time.Millisecond},
		{"eu-west/a", "ap-south/b", 70 * time.Millisecond}, // the more specific override wins
	}
	for _, tc := range cases {
		if got := topo.OneWay(p(tc.a), p(tc.b)); got != tc.want {
			t.Errorf("OneWay(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if got := topo.JitterFor(35 * time.Millisecond); got != 4*time.Millisecond {
		t.Errorf("JitterFor(35ms) at 10%% = %v, want 4ms (3.5ms rounded)", got)
	}
}

func TestLinksCoverEveryConnection(t *testing.T) {
	topo := DefaultTopology()
	topo.Gateways.PerRegion = 2
	links := topo.Links()
	// 3 ledger nodes: 6 ordered pairs; 4 gateways × 3 ledger nodes; 4 gateway→redis; 2 client regions × 4 gateways.
	if want := 6 + 12 + 4 + 8; len(links) != want {
		t.Fatalf("%d links, want %d: %v", len(links), want, links)
	}
	names := map[string]bool{}
	for _, l := range links {
		if names[l.ProxyName()] {
			t.Errorf("proxy name %s used twice", l.ProxyName())
		}
		names[l.ProxyName()] = true
		if _, _, err := topo.LinkLatency(l); err != nil {
			t.Error(err)
		}
	}
	gw := topo.GatewayNodes("eu-west")
	if gw[0].ID != "gateway:eu-west/a" || gw[1].ID != "gateway:eu-west/a.2" {
		t.Errorf("eu-west gateways = %v", gw)
	}
	l, err := ParseLinkID("client:eu-west->gateway:us-east/b")
	if err != nil {
		t.Fatal(err)
	}
	if d, j, _ := topo.LinkLatency(l); d != 35*time.Millisecond || j != 4*time.Millisecond {
		t.Errorf("LinkLatency(%s) = %v ± %v, want 35ms ± 4ms", l, d, j)
	}
	if got := l.ProxyName(); got != "client_eu-west--gateway_us-east.b" {
		t.Errorf("ProxyName = %q", got)
	}
}
