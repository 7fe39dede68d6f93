package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nduration: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
