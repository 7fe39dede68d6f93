package faults

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"paylab/regions"
)

// catalogueTopology has two regions, us-east with zones a, b, c and eu-west
// with zone a, and a ledger node in us-east/a, us-east/b and eu-west/a.
func catalogueTopology() regions.Topology {
	topo := regions.DefaultTopology()
	topo.Regions = []regions.Region{{Name: "us-east", Zones: []string{"a", "b", "c"}}, {Name: "eu-west", Zones: []string{"a"}}}
	topo.Ledger.Nodes = []regions.Placement{{Region: "us-east", Zone: "a"}, {Region: "us-east", Zone: "b"}, {Region: "eu-west", Zone: "a"}}
	return topo
}

func TestCatalogueNamesAreUniqueKebabCaseAndDocumented(t *testing.T) {
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	seen := map[string]bool{}
	for _, k := range Catalogue() {
		if !kebab.MatchString(k.Name) {
			t.Errorf("%q is not kebab-case", k.Name)
		}
		if seen[k.Name] {
			t.Errorf("%q is listed twice", k.Name)
		}
		seen[k.Name] = true
		if k.Doc == "" || strings.Contains(k.Doc, "\n") || k.Target == "" || k.build == nil {
			t.Errorf("%s: want a one-line doc, a target grammar and a constructor", k.Name)
		}
		if got, ok := Lookup(k.Name); !ok || got.Name != k.Name {
			t.Errorf("Lookup(%q) = %v, %v", k.Name, got.Name, ok)
		}
	}
	for _, want := range []string{"latency", "bandwidth", "slicer", "reset-peer", "partition", "asymmetric-partition",
		"majority-minority", "bridge", "majorities-ring", "leader-isolation", "crash", "restart", "pause",
		"rolling-restart", "leader-kill", "zone-down", "redis-down", "redis-latency", "redis-partition", "cache-flush",
		"cache-avalanche", "dns-remove-region", "dns-stale-cache", "dns-servfail", "dns-slow"} {
		if !seen[want] {
			t.Errorf("the catalogue has no %q", want)
		}
	}
	if _, ok := Lookup("cache-flood"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
}

func TestCatalogueDefaultsParse(t *testing.T) {
	for _, k := range Catalogue() {
		for _, p := range k.Params {
			if p.Doc == "" {
				t.Errorf("%s.%s has no doc", k.Name, p.Name)
			}
			if p.Required {
				continue
			}
			if _, err := p.parse(p.Default); err != nil {
				t.Errorf("%s.%s: default %q does not parse: %v", k.Name, p.Name, p.Default, err)
			}
		}
	}
}

func TestWriteCatalogueListsEveryKindAndParameter(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCatalogue(&b); err != nil {
		t.Fatal(err)
	}
	for _, k := range Catalogue() {
		if !strings.Contains(b.String(), k.Name) {
			t.Errorf("output lacks %s", k.Name)
		}
		for _, p := range k.Params {
			if !strings.Contains(b.String(), p.Name+" (") {
				t.Errorf("output lacks %s.%s", k.Name, p.Name)
			}
		}
	}
}

// stepParams decodes a timeline step's parameters the way the scenario
// loader does (YAML scalars as Go values), so the table below reads like
// scenario files.
func stepParams(t *testing.T, y string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatalf("bad test yaml %q: %v", y, err)
	}
	return m
}

func TestNewValidatesTargetAndParameters(t *testing.T) {
	topo := catalogueTopology()
	cases := []struct {
		kind, target, params string
		wantErr              string // "" means valid
	}{
		{"latency", "us-east", "{latency: 40ms, jitter: 4ms}", ""},
		{"latency", "ledger:us-east/a->ledger:us-east/b", "{latency: 40ms, direction: out}", ""},
		{"latency", "us-east/a, eu-west", "{latency: 40ms, toxicity: 50%}", ""},
		{"latency", "us-east", "{latency: -5ms}", "parameter latency: -5ms is negative"},
		{"latency", "us-east", "{latency: 40}", "parameter latency: number 40, want a duration"},
		{"latency", "us-east", "{latency: 40ms, latncy: 3ms}", `unknown parameter "latncy" (known: latency, jitter, direction, toxicity; did you mean latency?)`},
		{"latency", "us-east", "{}", "parameter latency is required"},
		{"latency", "us-east", "{latency: 1500us}", "parameter latency: 1.5ms is not a whole number of milliseconds"},
		{"latency", "us-east", "{latency: 11s}", "parameter latency: 11s is more than 10s"},
		{"latency", "us-east", "{latency: 10ms, jitter: 20ms}", "parameter jitter: 20ms is more than latency 10ms"},
		{"latency", "us-east", "{latency: 10ms, direction: up}", `parameter direction: "up", want one of both, out, in`},
		{"latency", "us-east", "{latency: 10ms, toxicity: 1.5}", "parameter toxicity: 1.5, want 0 to 1"},
		{"latency", "us-west", "{latency: 10ms}", `target "us-west": no region "us-west" in the topology`},
		{"latency", "us-east/z", "{latency: 10ms}", `target "us-east/z": region "us-east" has no zone "z"`},
		{"latency", "ledger:us-east/c", "{latency: 10ms}", "no node ledger:us-east/c in the topology"},
		{"latency", "ledger:us-east/a->redis:us-east/a", "{latency: 10ms}", "no link ledger:us-east/a->redis:us-east/a in the topology"},
		{"latency", "", "{latency: 10ms}", "a target is required"},
		{"bandwidth", "eu-west", "{rate: 100}", ""},
		{"bandwidth", "eu-west", "{rate: 0}", "parameter rate: 0, must be more than zero"},
		{"bandwidth", "eu-west", "{rate: 1.5}", "parameter rate: 1.5, want a whole number"},
		{"slicer", "eu-west", "{average_size: 32, size_variation: 8, delay: 10us}", ""},
		{"slicer", "eu-west", "{average_size: 32, size_variation: 32}", "parameter size_variation: 32 is not less than average_size 32"},
		{"reset-peer", "ledger:eu-west/a", "{timeout: 100ms, toxicity: 0.1}", ""},
		{"partition", "us-east/a", "", ""},
		{"partition", "us-east/a", "{mode: crash}", `unknown parameter "mode" (this fault takes no parameters)`},
		{"asymmetric-partition", "ledger:us-east/a", "{direction: in}", ""},
		{"asymmetric-partition", "ledger:us-east/a", "{direction: both}", `parameter direction: "both", want one of out, in`},
		{"majority-minority", "", "{leader: majority}", ""},
		{"majority-minority", "eu-west", "", ""},
		{"majority-minority", "us-east", "", "holds 2 ledger nodes; a minority of 3 ledger nodes is 1 to 1"},
		{"majority-minority", "eu-west", "{leader: minority}", "parameter leader: only without a target"},
		{"bridge", "", "", ""},
		{"bridge", "us-east/b", "", ""},
		{"bridge", "us-east", "", "holds 2 ledger nodes, want exactly one"},
		{"majorities-ring", "", "", ""},
		{"majorities-ring", "us-east", "", "this fault takes no target"},
		{"leader-isolation", "", "", ""},
		{"crash", "ledger:us-east/a", "", ""},
		{"crash", "us-east/a", "", "a zone or region is not a node"},
		{"restart", "ledger:eu-west/a", "", ""},
		{"pause", "ledger:us-east/b", "", ""},
		{"pause", "ledger:us-east/a->ledger:us-east/b", "", "is a link"},
		{"rolling-restart", "", "{downtime: 100ms, interval: 1s}", ""},
		{"rolling-restart", "us-east", "", ""},
		{"rolling-restart", "", "{downtime: 2m}", "parameter downtime: 2m0s is more than 1m0s"},
		{"leader-kill", "", "", ""},
		{"leader-kill", "ledger:us-east/a", "", "this fault takes no target"},
		{"zone-down", "us-east/a", "{mode: crash}", ""},
		{"zone-down", "us-east/a", "{mode: partition}", ""},
		{"zone-down", "us-east", "", `"us-east" is a region; this fault takes a zone`},
		{"zone-down", "us-east/a", "{mode: sleep}", `parameter mode: "sleep", want one of crash, partition`},
		{"dns-remove-region", "eu-west", "", ""},
		{"dns-remove-region", "eu-west, us-east", "", "one region, not a list"},
		{"dns-stale-cache", "", "{fraction: 0.3}", ""},
		{"dns-stale-cache", "eu-west", "{fraction: 2}", "parameter fraction: 2, want 0 to 1"},
		{"dns-servfail", "", "", ""},
		{"redis-down", "us-east", "", ErrNoRedis.Error()}, // catalogueTopology: every gateway mechanism off
		{"cache-flush", "eu-west", "", ErrNoRedis.Error()},
		{"dns-slow", "", "{delay: 300ms}", ""},
		{"dns-slow", "", "{delay: 0s}", "parameter delay: 0s, must be more than zero"},
		{"dns-slow", "", "", "parameter delay is required"},
	}
	for _, c := range cases {
		k, ok := Lookup(c.kind)
		if !ok {
			t.Fatalf("no kind %q", c.kind)
		}
		var params map[string]any
		if c.params != "" {
			params = stepParams(t, c.params)
		}
		f, err := k.New(topo, c.target, params)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s %q %s: %v", c.kind, c.target, c.params, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("%s %q %s: no error, want %q", c.kind, c.target, c.params, c.wantErr)
		case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("%s %q %s: error %q, want it to contain %q", c.kind, c.target, c.params, err, c.wantErr)
		case err != nil && !strings.HasPrefix(err.Error(), c.kind+": "):
			t.Errorf("%s: error %q does not start with the fault's name", c.kind, err)
		case err == nil && (f.Name() != c.kind || f.Target() != c.target):
			t.Errorf("%s %q: built %s %q", c.kind, c.target, f.Name(), f.Target())
		}
	}
}

func TestSelectionCrossingAndDirections(t *testing.T) {
	topo := catalogueTopology()
	sel, err := parseSelection(topo, "us-east/a", true)
	if err != nil {
		t.Fatal(err)
	}
	a, b := regions.NodeID("ledger:us-east/a"), regions.NodeID("ledger:us-east/b")
	links := sel.crossing(topo)
	for _, l := range links {
		if sel.inside[l.From] == sel.inside[l.To] {
			t.Errorf("%s does not cross the edge of us-east/a", l)
		}
	}
	ab, ba := regions.LinkID{From: a, To: b}, regions.LinkID{From: b, To: a}
	for _, want := range []regions.LinkID{ab, ba, {From: "gateway:eu-west/a", To: a}, {From: "client:us-east", To: "gateway:us-east/a"}} {
		found := false
		for _, l := range links {
			found = found || l == want
		}
		if !found {
			t.Errorf("crossing links of us-east/a lack %s", want)
		}
	}
	// out = bytes leaving us-east/a: forward on a->b, backward on b->a.
	for _, c := range []struct {
		l        regions.LinkID
		dir      string
		want     regions.Direction
		whatFrom string
	}{
		{ab, dirOut, regions.Forward, "a sends on its own link"},
		{ba, dirOut, regions.Backward, "a answers on b's link"},
		{ab, dirIn, regions.Backward, "b answers a"},
		{ba, dirIn, regions.Forward, "b sends to a"},
		{ab, dirBoth, regions.Both, ""},
	} {
		if got := sel.direction(c.l, c.dir); got != c.want {
			t.Errorf("%s %s: %v, want %v (%s)", c.l, c.dir, got, c.want, c.whatFrom)
		}
	}
	link, _ := parseSelection(topo, "ledger:us-east/a->ledger:us-east/b", true)
	if got := link.crossing(topo); len(got) != 1 || got[0] != ab {
		t.Errorf("an explicit link selects %v", got)
	}
	if got := link.direction(ab, dirOut); got != regions.Forward {
		t.Errorf("out on an explicit link a->b = %v, want forward (a's bytes)", got)
	}
}

func TestMajoritiesRingEveryNodeHearsADifferentMajority(t *testing.T) {
	for _, n := range []int{3, 5} {
		topo := regions.DefaultTopology()
		zones := []string{"a", "b", "c", "d", "e"}[:n]
		topo.Regions = []regions.Region{{Name: "r", Zones: zones}}
		topo.Ledger.Nodes = nil
		for _, z := range zones {
			topo.Ledger.Nodes = append(topo.Ledger.Nodes, regions.Placement{Region: "r", Zone: z})
		}
		f, err := newMajoritiesRing(topo)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := f.(*linkFault).plan(nil)
		// hears[x][y]: nothing drops y's bytes to x.
		ledger := ledgerNodes(topo)
		deaf := map[[2]regions.NodeID]bool{}
		for _, lt := range p.toxics {
			switch lt.Toxic.Direction {
			case regions.Forward:
				deaf[[2]regions.NodeID{lt.Link.To, lt.Link.From}] = true
			case regions.Backward:
				deaf[[2]regions.NodeID{lt.Link.From, lt.Link.To}] = true
			}
		}
		seen := map[string]bool{}
		for _, x := range ledger {
			var hears []string
			for _, y := range ledger {
				if x == y || !deaf[[2]regions.NodeID{x, y}] {
					hears = append(hears, string(y))
				}
			}
			if len(hears) != n/2+1 {
				t.Errorf("n=%d: %s hears %d nodes %v, want a bare majority %d", n, x, len(hears), hears, n/2+1)
			}
			key := strings.Join(hears, ",")
			if seen[key] {
				t.Errorf("n=%d: two nodes hear the same majority %s", n, key)
			}
			seen[key] = true
		}
	}
}

func TestCheckStepsRejectsBadTimelines(t *testing.T) {
	topo := catalogueTopology()
	crash, err := Catalogue()[0].New(topo, "us-east", map[string]any{"latency": "10ms"})
	if err != nil {
		t.Fatal(err)
	}
	ok := []Step{InjectAt(time.Second, crash), HealAt(2*time.Second, "latency", "us-east")}
	if err := CheckSteps(ok); err != nil {
		t.Errorf("a valid timeline: %v", err)
	}
	for name, steps := range map[string][]Step{
		"heal before inject":     {HealAt(time.Second, "latency", "us-east"), InjectAt(2*time.Second, crash)},
		"heal of another target": {InjectAt(time.Second, crash), HealAt(2*time.Second, "latency", "eu-west")},
		"double inject":          {InjectAt(time.Second, crash), InjectAt(2*time.Second, crash)},
		"unknown heal":           {HealAt(time.Second, "cache-flush", "")},
		"negative at":            {InjectAt(-time.Second, crash)},
		"empty step":             {{At: time.Second}},
		"too many":               make([]Step, MaxSteps+1),
	} {
		if err := CheckSteps(steps); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	withPos := []Step{{At: time.Second, Heal: "latency", Target: "us-east", Pos: "f.yaml:12:5"}}
	if err := CheckSteps(withPos); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:12:5: ") {
		t.Errorf("error %v does not start with the step's position", err)
	}
}

func TestStepForRefusesMalformedSteps(t *testing.T) {
	topo := catalogueTopology()
	for _, c := range []struct {
		fault, heal, target string
		params              map[string]any
		want                string
	}{
		{"cache-flood", "", "", nil, `f.yaml:1:1: no fault called "cache-flood" (known: latency, `},
		{"", "latency", "us-east", map[string]any{"latency": "5ms"}, "f.yaml:1:1: heal latency: a heal step takes no parameters"},
		{"latency", "latency", "us-east", nil, "f.yaml:1:1: a step has fault or heal, not both"},
		{"", "", "us-east", nil, "f.yaml:1:1: a step needs fault or heal"},
		{"crash", "", "us-east/a", nil, `f.yaml:1:1: crash: target "us-east/a": want one node the lab runs (ledger:us-east/a), a zone or region is not a node`},
	} {
		_, err := StepFor(topo, time.Second, c.fault, c.heal, c.target, c.params, "f.yaml:1:1")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("StepFor(%q, %q, %q) = %v, want an error starting %q", c.fault, c.heal, c.target, err, c.want)
		}
	}
}
