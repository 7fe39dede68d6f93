package scenarios

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"paylab/faults"
	"paylab/regions"
	"paylab/suggest"
)

// Scenario is one YAML file: the system, the load, the faults and what must hold.
type Scenario struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Seed        uint64           `yaml:"seed"`
	Duration    time.Duration    `yaml:"duration"`
	Warmup      time.Duration    `yaml:"warmup"`
	Drain       time.Duration    `yaml:"drain"`
	Topology    regions.Topology `yaml:"topology"`
	Accounts    Accounts         `yaml:"accounts"`
	Workload    Workload         `yaml:"workload"`
	Timeline    []Step           `yaml:"timeline"`
	Assertions  []AssertionSpec  `yaml:"assertions"`
	Expect      Expect           `yaml:"expect"`
	Tags        []string         `yaml:"tags"`
	Ledger      LedgerSettings   `yaml:"ledger"`
	// Source is the file as read, kept so a run can store the scenario exactly as it ran.
	Source []byte `yaml:"-"`
}

// Accounts are created before the load starts: acc-0 … acc-(Count-1), each with Balance minor units.
type Accounts struct {
	Count   int   `yaml:"count"`
	Balance int64 `yaml:"balance"`
}

// LedgerSettings tune the ledger nodes beyond the topology's raft timeouts.
//
// The tuning fields are pointers: nil (left out) is the ledger's default, and any value written — 0
// included — is that value, checked by the ledger's own configuration rules (issue 10: 0 used to read as
// "unset").
type LedgerSettings struct {
	// SnapshotThreshold is how many raft entries trigger a snapshot (nil: the ledger's default).
	SnapshotThreshold *uint64 `yaml:"snapshot_threshold"`
	// SnapshotInterval is how often raft checks the threshold (nil: the ledger's default, 30s — longer
	// than most runs, so a small threshold alone takes no snapshot).
	SnapshotInterval *time.Duration `yaml:"snapshot_interval"`
	// TrailingLogs is how many entries a snapshot leaves in the log (nil: the ledger's default). A
	// follower further behind than this catches up by InstallSnapshot.
	TrailingLogs *uint64 `yaml:"trailing_logs"`
	// StateSync fsyncs every state commit.
	StateSync bool `yaml:"state_sync"`
	// Broken turns on test-only ledger bugs, so a scenario can prove a checker catches them (with
	// expect: fail).
	Broken BrokenLedger `yaml:"broken"`
}

// BrokenLedger are the ledger's test-only bug switches.
type BrokenLedger struct {
	// SkipDedupe applies a resubmitted transfer id again.
	SkipDedupe bool `yaml:"skip_dedupe"`
	// AckBeforeCommit acknowledges transfers before raft commits them.
	AckBeforeCommit bool `yaml:"ack_before_commit"`
	// CommitOtherAmount commits (and journals) one minor unit more than each transfer asked for.
	CommitOtherAmount bool `yaml:"commit_other_amount"`
	// AllowNegative skips the insufficient-funds check (overdrafts commit).
	AllowNegative bool `yaml:"allow_negative"`
}

// Workload is the load offered during the scenario (open model).
type Workload struct {
	Rate Rate `yaml:"rate"`
	// From lists the client regions; traffic is split evenly. Default: every region.
	From        []string    `yaml:"from"`
	Mix         Mix         `yaml:"mix"`
	Duplicates  float64     `yaml:"duplicates"`
	HotAccounts HotAccounts `yaml:"hot_accounts"`
	Amount      AmountRange `yaml:"amount"`
	// Timeout bounds each request; a timed-out transfer is recorded as unknown.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConnections bounds concurrent requests (Little's law decides how many are used).
	MaxConnections int `yaml:"max_connections"`
	// Target is where clients send: "gateway" (through DNS and the regional gateways) or "ledger"
	// (straight at the ledger leader).
	Target string `yaml:"target"`
}

// Mix is the share of each operation; shares are normalised. A mix the file writes replaces the default
// (transfers only) whole: `{read: 1}` is reads only.
type Mix struct {
	Transfer  float64 `yaml:"transfer"`
	Read      float64 `yaml:"read"`
	StaleRead float64 `yaml:"stale_read"`
}

// UnmarshalYAML reads the shares the mapping names; the others are 0, whatever was there before.
func (m *Mix) UnmarshalYAML(n *yaml.Node) error {
	type plain Mix
	var p plain
	if err := decodeStrict(n, &p, "transfer", "read", "stale_read"); err != nil {
		return err
	}
	*m = Mix(p)
	return nil
}

// decodeStrict decodes a mapping into v, refusing keys outside known with a *PathError at the key.
func decodeStrict(n *yaml.Node, v any, known ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("expected a mapping, got %s", kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(known, k) {
			return &PathError{Key: k, AtKey: true, Msg: fmt.Sprintf("unknown field %q (known: %s%s)", k, strings.Join(known, ", "), suggest.DidYouMean(k, known))}
		}
	}
	return n.Decode(v)
}

// HotAccounts skews account choice: Zipf exponent > 1, or 0 for uniform.
type HotAccounts struct {
	Zipf float64 `yaml:"zipf"`
}

// AmountRange bounds transfer amounts, in minor units.
type AmountRange struct {
	Min int64 `yaml:"min"`
	Max int64 `yaml:"max"`
}

// Step is one entry of the timeline: inject a fault or heal one, at a time from the start of the load.
// Keys other than at, fault, heal and target are the fault's parameters.
type Step struct {
	At     time.Duration  `yaml:"at"`
	Fault  string         `yaml:"fault"`
	Heal   string         `yaml:"heal"`
	Target string         `yaml:"target"`
	Params map[string]any `yaml:",inline"`
	// Pos is where the step starts in the file ("file:line:col"), for errors found later.
	Pos string `yaml:"-"`
}

// Name is the fault the step injects or heals.
func (s Step) Name() string {
	if s.Fault != "" {
		return s.Fault
	}
	return s.Heal
}

// IsHeal reports whether the step heals a fault.
func (s Step) IsHeal() bool { return s.Heal != "" }

// AssertionSpec names one assertion and its parameters: `- conservation` or `- p99: {phase: steady, below: 50ms}`.
// The parameters may hold `id:`, the name expect uses for this entry (default: the assertion's name), so
// two entries of one assertion can expect different verdicts.
type AssertionSpec struct {
	Name   string
	ID     string
	Params map[string]any
	Pos    string
}

// Key is the id expect names this entry by: its id, or its assertion's name.
func (a AssertionSpec) Key() string {
	if a.ID != "" {
		return a.ID
	}
	return a.Name
}

// UnmarshalYAML accepts a bare name or a one-key mapping from the name to its parameters.
func (a *AssertionSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		a.Name = n.Value
		return nil
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return fmt.Errorf("an assertion is a name or a one-key mapping {name: {parameters}}, got %d keys", len(n.Content)/2)
		}
		a.Name = n.Content[0].Value
		if v := n.Content[1]; v.Kind != yaml.ScalarNode || v.Tag != "!!null" {
			if v.Kind != yaml.MappingNode {
				return &PathError{Key: a.Name, Msg: fmt.Sprintf("parameters of %s must be a mapping", a.Name)}
			}
			if err := v.Decode(&a.Params); err != nil {
				return err
			}
			if id, ok := a.Params["id"]; ok {
				s, ok := id.(string)
				if !ok || !idPattern.MatchString(s) {
					return &PathError{Key: a.Name + ".id", Msg: fmt.Sprintf("id %v: want 1 to 64 letters, digits, '_', '-', '.' or ':'", id)}
				}
				a.ID = s
				delete(a.Params, "id")
			}
		}
		return nil
	}
	return fmt.Errorf("an assertion is a name or a one-key mapping {name: {parameters}}")
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Expect is the verdict the scenario must reach: pass (default), or fail with the ids of the assertions
// that must fail (naive-mode scenarios prove the checkers bite). An id is an assertion's `id:`, or its
// name when it has none and no other entry shares it.
type Expect struct {
	Verdict string   `yaml:"verdict"`
	Failing []string `yaml:"failing"`
}

// UnmarshalYAML accepts `expect: pass`, `expect: fail` or `expect: {verdict: fail, failing: [...]}`.
func (e *Expect) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Verdict = n.Value
		return nil
	}
	type plain Expect
	var p plain
	if err := decodeStrict(n, &p, "verdict", "failing"); err != nil {
		return err
	}
	*e = Expect(p)
	return nil
}

// Rate is the offered load over time: constant ("2000/s"), a linear ramp or steps.
type Rate struct {
	// PerSecond is the constant rate; for a ramp, the starting rate.
	PerSecond float64
	// To and Over describe a linear ramp from PerSecond to To over Over (then constant at To).
	To   float64
	Over time.Duration
	// Steps, when set, replace the above: each rate holds for its duration, in order.
	Steps []RateStep
}

// RateStep holds one rate for a while.
type RateStep struct {
	PerSecond float64
	For       time.Duration
}

// ParseRate parses "2000/s", "120/m" or a bare number (per second).
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	unit := 1.0
	switch {
	case strings.HasSuffix(s, "/s"):
		s = strings.TrimSuffix(s, "/s")
	case strings.HasSuffix(s, "/m"):
		s, unit = strings.TrimSuffix(s, "/m"), 1.0/60
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("rate %q: want a number per second like 2000/s (or per minute, 120/m)", s)
	}
	return v * unit, nil
}

// UnmarshalYAML reads `2000/s`, `{ramp: {from: 100/s, to: 2000/s, over: 10s}}` or
// `{steps: [{rate: 100/s, for: 5s}, …]}`.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := ParseRate(n.Value)
		*r = Rate{PerSecond: v}
		return err
	case yaml.MappingNode:
		var m struct {
			Ramp *struct {
				From string        `yaml:"from"`
				To   string        `yaml:"to"`
				Over time.Duration `yaml:"over"`
			} `yaml:"ramp"`
			Steps []struct {
				Rate string        `yaml:"rate"`
				For  time.Duration `yaml:"for"`
			} `yaml:"steps"`
		}
		if err := decodeKnown(n, &m); err != nil {
			return err
		}
		switch {
		case m.Ramp != nil && m.Steps != nil:
			return fmt.Errorf("rate has both ramp and steps; choose one")
		case m.Ramp != nil:
			from, err := ParseRate(m.Ramp.From)
			if err != nil {
				return err
			}
			to, err := ParseRate(m.Ramp.To)
			if err != nil {
				return err
			}
			*r = Rate{PerSecond: from, To: to, Over: m.Ramp.Over}
		case m.Steps != nil:
			*r = Rate{}
			for _, s := range m.Steps {
				v, err := ParseRate(s.Rate)
				if err != nil {
					return err
				}
				r.Steps = append(r.Steps, RateStep{PerSecond: v, For: s.For})
			}
		default:
			return fmt.Errorf("rate mapping needs ramp or steps")
		}
		return nil
	}
	return fmt.Errorf("rate must be like 2000/s, a ramp or steps")
}

// Peak is the highest rate the schedule reaches.
func (r Rate) Peak() float64 {
	p := max(r.PerSecond, r.To)
	for _, s := range r.Steps {
		p = max(p, s.PerSecond)
	}
	return p
}

func decodeKnown(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// Limits on scenarios: a run is bounded in time and size.
const (
	MaxDuration    = 10 * time.Minute
	MaxAccounts    = 1_000_000
	MaxRate        = 200_000
	MaxSteps       = 200
	MaxConnections = 20_000
)

// Default is a scenario holding every default a file may leave out; Parse decodes files onto it, so a
// value a file writes — 0 included — is never mistaken for "unset" (issue 10). Code that builds a
// scenario starts from it too, then calls Derive.
func Default() Scenario {
	return Scenario{
		Topology: regions.DefaultTopology(),
		Warmup:   2 * time.Second,
		Drain:    2 * time.Second,
		Accounts: Accounts{Count: 1000, Balance: 1_000_000},
		Workload: Workload{
			Mix:            Mix{Transfer: 1},
			Amount:         AmountRange{Min: 1, Max: 100},
			Timeout:        2 * time.Second,
			MaxConnections: 1024,
			Target:         "gateway",
		},
		Expect: Expect{Verdict: "pass"},
	}
}

// Derive fills what depends on other fields: the client regions (every region of the topology when the
// file names none) and the expected verdict (pass when empty).
func (s *Scenario) Derive() {
	if len(s.Workload.From) == 0 {
		for _, r := range s.Topology.Regions {
			s.Workload.From = append(s.Workload.From, r.Name)
		}
	}
	if s.Expect.Verdict == "" {
		s.Expect.Verdict = "pass"
	}
}

// FieldError is a problem with one field, named by its YAML path (e.g. "timeline[2].target").
type FieldError struct {
	Path string
	Msg  string
	// AtKey points the error at the key naming Path (an unknown name) rather than at its value.
	AtKey bool
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Validate checks everything the format can check on its own and returns every problem found.
func (s *Scenario) Validate() []FieldError {
	var errs []FieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !namePattern.MatchString(s.Name) {
		bad("name", "%q must be lower-case letters, digits and '-', at most 64", s.Name)
	}
	switch {
	case s.Duration == 0:
		bad("duration", "is required (how long the load runs, e.g. duration: 20s; at most %v)", MaxDuration)
	case s.Duration < 0 || s.Duration > MaxDuration:
		bad("duration", "%v, want more than 0 and at most %v", s.Duration, MaxDuration)
	}
	if s.Warmup < 0 || s.Warmup > time.Minute {
		bad("warmup", "%v, want 0 to 1m", s.Warmup)
	}
	if s.Drain < 0 || s.Drain > time.Minute {
		bad("drain", "%v, want 0 to 1m", s.Drain)
	}
	if err := s.Topology.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			if fe, ok := errors.AsType[*regions.FieldError](e); ok {
				bad("topology."+fe.Field, "%s", fe.Msg)
			} else {
				bad("topology", "%s", e.Error())
			}
		}
	}
	if s.Accounts.Count < 2 || s.Accounts.Count > MaxAccounts {
		bad("accounts.count", "%d, want 2 to %d", s.Accounts.Count, MaxAccounts)
	}
	if s.Accounts.Balance < 0 || s.Accounts.Balance > 1<<62 {
		bad("accounts.balance", "%d, want 0 to 2^62", s.Accounts.Balance)
	} else if s.Accounts.Count > 0 && s.Accounts.Balance > (1<<62)/int64(s.Accounts.Count) {
		// The checkers sum every balance in int64 minor units: the total must fit.
		bad("accounts.balance", "%d × %d accounts exceeds 2^62 minor units in total", s.Accounts.Balance, s.Accounts.Count)
	}
	if d := s.Ledger.SnapshotInterval; d != nil && (*d < 5*time.Millisecond || *d > time.Hour) {
		bad("ledger.snapshot_interval", "%v, want 5ms to 1h", *d)
	}
	s.validateWorkload(bad)
	s.validateTimeline(bad)
	if len(s.Assertions) == 0 {
		bad("assertions", "a scenario needs at least one assertion")
	}
	s.validateIDs(bad)
	return errs
}

// validateIDs checks the assertions' ids and the ids expect names: explicit ids are unique and do not
// take another entry's name; expect names ids that exist and pick one entry each.
func (s *Scenario) validateIDs(bad func(path, format string, args ...any)) {
	count := map[string]int{} // key → entries answering to it
	for i, a := range s.Assertions {
		if a.Name == "" {
			bad(fmt.Sprintf("assertions[%d]", i), "empty assertion name")
		}
		count[a.Key()]++
	}
	for i, a := range s.Assertions {
		if a.ID != "" && count[a.ID] > 1 {
			bad(fmt.Sprintf("assertions[%d].%s.id", i, a.Name), "id %q is used by %d entries (an entry without id: answers to its name); ids must be unique", a.ID, count[a.ID])
		}
	}
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	switch s.Expect.Verdict {
	case "pass":
		if len(s.Expect.Failing) > 0 {
			bad("expect.failing", "listed, but the expected verdict is pass")
		}
	case "fail":
		if len(s.Expect.Failing) == 0 {
			bad("expect.failing", "an expected failure must name the ids of the assertions that must fail")
		}
		for i, f := range s.Expect.Failing {
			switch count[f] {
			case 0:
				bad(fmt.Sprintf("expect.failing[%d]", i), "%q is not the id of one of the scenario's assertions (ids: %s%s)", f, strings.Join(keys, ", "), suggest.DidYouMean(f, keys))
			case 1:
			default:
				bad(fmt.Sprintf("expect.failing[%d]", i), "%d assertions answer to %q; give each an id: and name the one that must fail", count[f], f)
			}
		}
	default:
		bad("expect.verdict", "%q, want pass or fail", s.Expect.Verdict)
	}
}

func (s *Scenario) validateWorkload(bad func(path, format string, args ...any)) {
	w := s.Workload
	r := w.Rate
	switch {
	case len(r.Steps) > 0:
		for i, st := range r.Steps {
			if st.PerSecond <= 0 || st.PerSecond > MaxRate || st.For <= 0 {
				bad(fmt.Sprintf("workload.rate.steps[%d]", i), "rate %g/s for %v: want a rate in (0, %d] and a positive duration", st.PerSecond, st.For, MaxRate)
			}
		}
	case r.Over > 0:
		if r.PerSecond < 0 || r.To <= 0 || r.PerSecond > MaxRate || r.To > MaxRate {
			bad("workload.rate.ramp", "from %g/s to %g/s: want rates in [0, %d] ending above 0", r.PerSecond, r.To, MaxRate)
		}
	default:
		if r.PerSecond <= 0 || r.PerSecond > MaxRate {
			bad("workload.rate", "%g/s, want more than 0 and at most %d/s", r.PerSecond, MaxRate)
		}
	}
	for i, from := range w.From {
		if _, ok := s.Topology.Region(from); !ok {
			bad(fmt.Sprintf("workload.from[%d]", i), "no region %q in the topology", from)
		}
	}
	m := w.Mix
	if m.Transfer < 0 || m.Read < 0 || m.StaleRead < 0 || m.Transfer+m.Read+m.StaleRead <= 0 {
		bad("workload.mix", "shares must be ≥ 0 and not all 0")
	}
	if w.Duplicates < 0 || w.Duplicates > 1 {
		bad("workload.duplicates", "%g, want 0 to 1", w.Duplicates)
	}
	if z := w.HotAccounts.Zipf; z != 0 && !(z > 1 && z < 100) {
		bad("workload.hot_accounts.zipf", "%g, want 0 (uniform) or more than 1", z)
	}
	if w.Amount.Min < 1 || w.Amount.Max < w.Amount.Min || w.Amount.Max > 1_000_000_000_000_000 {
		bad("workload.amount", "min %d max %d: want 1 ≤ min ≤ max ≤ 10^15", w.Amount.Min, w.Amount.Max)
	}
	if w.Timeout <= 0 || w.Timeout > time.Minute {
		bad("workload.timeout", "%v, want more than 0 and at most 1m", w.Timeout)
	}
	if w.MaxConnections < 1 || w.MaxConnections > MaxConnections {
		bad("workload.max_connections", "%d, want 1 to %d", w.MaxConnections, MaxConnections)
	}
	if w.Target != "ledger" && w.Target != "gateway" {
		bad("workload.target", "%q, want ledger or gateway", w.Target)
	}
}

func (s *Scenario) validateTimeline(bad func(path, format string, args ...any)) {
	if len(s.Timeline) > MaxSteps {
		bad("timeline", "%d steps, at most %d", len(s.Timeline), MaxSteps)
	}
	active := map[string]int{}     // fault|target → index of the step that injected it
	unknown := map[string]string{} // target → an unknown fault injected on it, reported by checkCatalogues
	var prev time.Duration
	for i, st := range s.Timeline {
		p := fmt.Sprintf("timeline[%d]", i)
		switch {
		case st.Fault == "" && st.Heal == "":
			bad(p, "a step needs fault: or heal:")
			continue
		case st.Fault != "" && st.Heal != "":
			bad(p, "a step has either fault: or heal:, not both")
			continue
		}
		if st.At < 0 || (st.At > s.Duration && s.Duration > 0) { // no duration: reported once, above
			bad(p+".at", "%v is outside the run (0 to %v)", st.At, s.Duration)
		}
		if st.At < prev {
			bad(p+".at", "%v comes before the previous step (%v); list steps in time order", st.At, prev)
		}
		prev = st.At
		key := st.Name() + "|" + st.Target
		if _, known := faults.Lookup(st.Name()); !known {
			// checkCatalogues reports the unknown name, with a suggestion; a heal of what it meant is no
			// second mistake.
			if !st.IsHeal() {
				unknown[st.Target] = st.Fault
			}
			continue
		}
		if st.IsHeal() {
			if _, ok := active[key]; !ok {
				if u, ok := unknown[st.Target]; ok && suggest.Distance(u, st.Heal) <= max(1, len(st.Heal)/3) {
					delete(unknown, st.Target)
				} else {
					bad(p+".heal", "heals %s on %q, which no earlier step injected", st.Heal, st.Target)
				}
			}
			delete(active, key)
			if len(st.Params) > 0 {
				bad(p, "a heal step takes no parameters")
			}
			continue
		}
		if j, ok := active[key]; ok {
			bad(p+".fault", "%s on %q is already active since timeline[%d]", st.Fault, st.Target, j)
		}
		active[key] = i
	}
}
