package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"paylab/results"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nduration: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := "name: x\nduration: 10s\ntopology:\n  regions: [{name: r1, zones: [a, b, c]}]\n  ledger: {nodes: [r1/a, r1/b, r1/c]}\nworkload: {rate: 100/s}\n"
	unknownFault := write("uf.yaml", base+"timeline:\n  - {at: 1s, fault: meteor, target: r1/a}\nassertions: [conservation]\n")
	badParam := write("bp.yaml", base+"timeline:\n  - {at: 1s, fault: latency, target: r1/a, latency: -5ms}\nassertions: [conservation]\n")
	unknownAssertion := write("ua.yaml", base+"assertions: [conservation, money_is_happy]\n")
	badAssertionParam := write("bap.yaml", base+"assertions:\n  - p99: {below: fast}\n")
	zeroThreshold := write("zt.yaml", base+"ledger: {snapshot_threshold: 0}\nassertions: [conservation]\n")
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"help", []string{"--help"}, 0, ""},
		{"bad flag", []string{"bench", "ledger", "--rate", "x"}, 2, "invalid value"},
		{"bad bench target", []string{"bench", "disk"}, 2, "unknown bench target"},
		{"bench rate out of range", []string{"bench", "ledger", "--rate", "-1"}, 2, "--rate"},
		{"validate a broken file", []string{"validate", bad}, 2, bad + ":2:11: duration:"},
		{"validate a library scenario", []string{"validate", "smoke"}, 0, ""},
		{"run an unknown scenario", []string{"run", "no-such-scenario"}, 2, "no scenario"},
		{"run without a scenario", []string{"run"}, 2, "one scenario"},
		{"suite with an unknown scenario", []string{"suite", "--out", filepath.Join(dir, "suite"), "no-such-scenario"}, 2, "could not be set up"},
		{"suite with a bad pattern", []string{"suite", "[x"}, 2, "pattern"},
		{"compare one run", []string{"compare", dir}, 2, "two run directories"},
		{"compare directories that are no runs", []string{"compare", dir, dir}, 2, "summary.json"},
		{"compare with a bad ratio", []string{"compare", "--max-ratio", "p99", dir, dir}, 2, "FIGURE=RATIO"},
		{"list", []string{"list"}, 0, ""},
		{"faults", []string{"faults"}, 0, ""},
		{"assertions", []string{"assertions"}, 0, ""},
		{"faults takes no arguments", []string{"faults", "x"}, 2, "unexpected arguments"},
		{"report of a directory that is no run", []string{"report", dir}, 2, "summary.json"},
		{"report without a directory", []string{"report"}, 2, "at least one run directory"},
		{"unknown fault", []string{"validate", unknownFault}, 2, unknownFault + ":8:21: timeline[0].fault: unknown fault \"meteor\""},
		{"bad fault parameter", []string{"validate", badParam}, 2, badParam + ":8:53: timeline[0].latency: latency: parameter latency: -5ms is negative"},
		{"unknown assertion", []string{"validate", unknownAssertion}, 2, unknownAssertion + ":7:28: assertions[1].money_is_happy: unknown assertion"},
		{"bad assertion parameter", []string{"validate", badAssertionParam}, 2, badAssertionParam + ":8:18: assertions[0].p99.below: p99: below"},
		{"a ledger setting the ledger refuses", []string{"validate", zeroThreshold}, 2, zeroThreshold + ":7:9: ledger: the ledger refuses these settings: ledger config: SnapshotThreshold must be at least 1"},
		{"run refuses an invalid file before starting anything", []string{"run", "--out", dir, badParam}, 2, badParam + ":8:53:"},
		{"flags may follow the scenario", []string{"run", badParam, "--out", dir}, 2, badParam + ":8:53:"},
		{"a bad flag after the scenario is still a usage error", []string{"run", badParam, "--frobnicate"}, 2, "flag provided but not defined"},
		{"sweep of an unknown key", []string{"sweep", "smoke", "--set", "colour=red"}, 2, "cannot sweep \"colour\""},
		{"sweep without --set", []string{"sweep", "smoke"}, 2, "at least one --set"},
		{"sweep too large", []string{"sweep", "smoke", "--set", "seed=1,2,3,4,5,6,7,8,9,10,11", "--repeat", "20"}, 2, "at most 200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := realMain(tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("stderr %q lacks %q", errb.String(), tc.stderr)
			}
		})
	}
}

func TestSweepWritesOneRowPerRun(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := realMain([]string{"sweep", "smoke", "--set", "duration=1s", "--set", "workload.rate=50/s,100/s", "--repeat", "1", "--out", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*-sweep-smoke", "sweep.csv"))
	if len(matches) != 1 {
		t.Fatalf("sweep.csv not written: %v", matches)
	}
	b, _ := os.ReadFile(matches[0])
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "duration,workload.rate,repeat,run,verdict,") || !strings.Contains(lines[2], ",100/s,1,") {
		t.Fatalf("sweep.csv:\n%s", b)
	}
	charts, _ := filepath.Glob(filepath.Join(filepath.Dir(matches[0]), "sweep-*.svg"))
	if len(charts) == 0 {
		t.Fatal("no sweep charts written")
	}
}

// TestScenarioGuideExampleIsValid keeps docs/SCENARIOS.md honest: its full example must validate.
func TestScenarioGuideExampleIsValid(t *testing.T) {
	doc, err := os.ReadFile("../../docs/SCENARIOS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/SCENARIOS.md has no yaml example")
	}
	path := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := realMain([]string{"validate", path}, &out, &errb); code != 0 {
		t.Fatalf("the guide's example does not validate: %s", errb.String())
	}
}

// TestValidateReportsEveryProblemInOnePass: a file with six mistakes of different kinds — an unknown field,
// a gateway mode the lab cannot run, a misspelled fault, a misspelled fault parameter, a phase the timeline
// does not have and a bad assertion value — gets all six reported by one validate, each at the line:col of
// the offending key or value, with "did you mean" for the misspelled names, and no follow-on complaint
// (the heal of the misspelled fault is not "a heal of nothing").
func TestValidateReportsEveryProblemInOnePass(t *testing.T) {
	body := `name: five
duration: 10s
colour: blue
topology:
  regions: [{name: r1, zones: [a, b, c]}]
  ledger: {nodes: [r1/a, r1/b, r1/c], election_timeout: 200ms, heartbeat_timeout: 50ms}
  gateways: {lock: naive, limiter: {rate: 10}}
workload: {rate: 100/s}
timeline:
  - {at: 1s, fault: zone-dwn, target: r1/a}
  - {at: 5s, heal: zone-down, target: r1/a}
  - {at: 6s, fault: latency, target: r1, latency: 40ms, jitterr: 5ms}
  - {at: 8s, heal: latency, target: r1}
assertions:
  - conservation
  - p99: {phase: "during:nothing", below: 50ms}
  - error_rate: {phase: steady, below: lots}
`
	path := filepath.Join(t.TempDir(), "five.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := realMain([]string{"validate", path}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, errb.String())
	}
	want := []string{
		path + `:3:1: colour: unknown field "colour"`,
		path + `:7:36: topology.gateways.limiter.burst: 0, want at least 1 with a rate`,
		path + `:10:21: timeline[0].fault: unknown fault "zone-dwn"`,
		`did you mean zone-down?`,
		path + `:12:57: timeline[2].jitterr: latency: unknown parameter "jitterr"`,
		`did you mean jitter?`,
		path + `:16:18: assertions[1].p99.phase: p99: phase "during:nothing" is not a phase of this scenario's timeline`,
		path + `:17:40: assertions[2].error_rate.below: error_rate: below: "lots" is not a percentage`,
	}
	got := errb.String()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("validate output lacks %q", w)
		}
	}
	if n := strings.Count(got, path+":"); n != 6 {
		t.Errorf("%d problems reported, want exactly 6:\n%s", n, got)
	}
	if strings.Contains(got, "no earlier step injected") {
		t.Errorf("the heal of the misspelled fault is reported as a second mistake:\n%s", got)
	}
	if t.Failed() {
		t.Logf("validate said:\n%s", got)
	}
}

// TestRunExitCodeFollowsTheVerdict: pass 0, fail 1, unknown 3.
func TestRunExitCodeFollowsTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		v    results.Verdict
		code int
	}{{results.Pass, 0}, {results.Fail, 1}, {results.Undecided, 3}} {
		var errb bytes.Buffer
		code := exitCode("run", verdictErr(tc.v, "runs/x"), &errb)
		if code != tc.code {
			t.Errorf("verdict %s: exit %d, want %d (%s)", tc.v, code, tc.code, errb.String())
		}
	}
}

// TestRunEndsWithItsReplayLine: a run's last line is the command that replays it (scenario, seed, the
// overridden duration) with the paylab commit, and summary.json and junit.xml carry the same.
func TestRunEndsWithItsReplayLine(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := realMain([]string{"run", "smoke", "--seed", "11", "--duration", "1s", "--out", dir}, &out, &errb)
	if code != 0 && code != 1 && code != 3 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	const want = "replay: paylab run smoke --seed 11 --duration 1s   (paylab commit "
	if !strings.HasPrefix(last, want) {
		t.Fatalf("last line %q, want it to start with %q", last, want)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*-smoke"))
	if len(matches) != 1 {
		t.Fatalf("run directories %v", matches)
	}
	f, err := os.Open(filepath.Join(matches[0], results.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := results.ReadSummary(f)
	if err != nil {
		t.Fatal(err)
	}
	if run.Replay != "paylab run smoke --seed 11 --duration 1s" || run.Seed != 11 {
		t.Errorf("summary.json: replay %q seed %d", run.Replay, run.Seed)
	}
	junit, err := os.ReadFile(filepath.Join(matches[0], results.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(junit), `<property name="replay" value="paylab run smoke --seed 11 --duration 1s"></property>`) {
		t.Errorf("junit.xml lacks the replay property:\n%s", junit)
	}
}

// TestTuneGCBoundsTheHeapUnlessTheEnvironmentChose checks the collector settings the lab's process runs with:
// GOGC 400 and a 512 MiB soft memory limit by default, and whatever GOGC/GOMEMLIMIT say when they are set.
func TestTuneGCBoundsTheHeapUnlessTheEnvironmentChose(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(-1); got != 400 {
		t.Errorf("GC percent %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Errorf("memory limit %d bytes, want %d (512 MiB)", got, 512<<20)
	}

	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	tuneGC(func(k string) string { return map[string]string{"GOGC": "50", "GOMEMLIMIT": "2GiB"}[k] })
	if got := debug.SetGCPercent(-1); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left alone (100)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left alone", got)
	}
}
