package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
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
		{"list", []string{"list"}, 0, ""},
		{"faults", []string{"faults"}, 0, ""},
		{"assertions", []string{"assertions"}, 0, ""},
		{"faults takes no arguments", []string{"faults", "x"}, 2, "unexpected arguments"},
		{"report of a directory that is no run", []string{"report", dir}, 2, "summary.json"},
		{"report without a directory", []string{"report"}, 2, "at least one run directory"},
		{"unknown fault", []string{"validate", unknownFault}, 2, unknownFault + ":8:21: timeline[0].fault: unknown fault \"meteor\""},
		{"bad fault parameter", []string{"validate", badParam}, 2, badParam + ":8:5: timeline[0]: latency"},
		{"unknown assertion", []string{"validate", unknownAssertion}, 2, unknownAssertion + ":7:28: assertions: unknown assertion"},
		{"bad assertion parameter", []string{"validate", badAssertionParam}, 2, badAssertionParam + ":8:5: assertions: p99: below"},
		{"run refuses an invalid file before starting anything", []string{"run", "--out", dir, badParam}, 2, badParam + ":8:5:"},
		{"flags may follow the scenario", []string{"run", badParam, "--out", dir}, 2, badParam + ":8:5:"},
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
