package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"paylab/nodes/ledger/ledgertest"
	"paylab/outcome"
	"paylab/results"
)

// noopServer answers every request with 204 on a loopback port.
func noopServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "http://" + ln.Addr().String() + "/", &hits
}

func TestLoadURLPrintsSummaryAndWritesResults(t *testing.T) {
	url, hits := noopServer(t)
	out := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	// --max-requests ends the run after 100 requests (0.5 s at 200/s): a duration bound would miss
	// some on a machine too busy to keep the schedule, and the counts below would be its speed.
	err := runLoad(context.Background(), []string{"--url", url, "--rate", "200", "--duration", "1m", "--max-requests", "100",
		"--timeout", "1m", "--out", out, "--history", "--metrics", "0"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if hits.Load() != 100 {
		t.Errorf("target saw %d requests, want 100", hits.Load())
	}
	for _, want := range []string{"requests", "100 sent", "ok=100 (100.00%)", "p(99)=", "p(99.9)="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, name := range []string{results.SummaryFile, results.TimeseriesFile, results.JUnitFile, results.ReportFile, results.HistoryFile} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	h, err := results.LoadHistory(filepath.Join(out, results.HistoryFile))
	if err != nil || h.Len() != 100 {
		t.Errorf("history.bin: %v (len %d)", err, h.Len())
	}
}

func TestLoadRejectsBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--url", "http://127.0.0.1:1/", "--ledger", "n1=http://127.0.0.1:2"},
		{"--url", "ftp://x"},
		{"--url", "http://127.0.0.1:1/", "--rate", "10", "--steps", "1:1s"},
		{"--url", "http://127.0.0.1:1/", "--steps", "fast"},
		{"--url", "http://127.0.0.1:1/", "--history"},
		{"--ledger", "n1=http://127.0.0.1:2", "--mix", "transfer=1,refund=1"},
		{"--url", "http://127.0.0.1:1/", "extra"},
	} {
		err := runLoad(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("paylab load %q: err %v, want a usage error (exit 2)", args, err)
		}
	}
}

// End to end against a real one-node ledger: accounts are created, the workload's transfers
// commit or are rejected, reads answer, and nothing is unknown on a healthy cluster.
func TestLoadLedgerWorkloadAgainstARealLedger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for id, u := range c.URLs() {
		nodes = append(nodes, id+"="+u)
	}
	out := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	err = runLoad(ctx, []string{"--ledger", strings.Join(nodes, ","), "--accounts", "50", "--balance", "1000",
		"--mix", "transfer=0.8,read=0.1,stale=0.1", "--zipf", "1.2", "--duplicates", "0.1", "--regions", "us-east,eu-west",
		"--rate", "200", "--duration", "1m", "--max-requests", "200", "--timeout", "1m", "--out", out, "--history"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	h, err := results.LoadHistory(filepath.Join(out, results.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var ok, transfers, reads, dupKeys int
	seen := map[uint64]bool{}
	for _, op := range h.Ops() {
		switch op.Type {
		case results.OpTransfer:
			transfers++
			if seen[op.Key] {
				dupKeys++
			}
			seen[op.Key] = true
		case results.OpRead, results.OpStaleRead:
			reads++
		}
		if op.Kind == outcome.OK {
			ok++
		}
		if op.Kind == outcome.Unknown || op.Kind == outcome.Failed {
			t.Errorf("op %d on a healthy ledger: %s %q", op.Seq, op.Kind, h.Reason(op))
		}
	}
	if h.Len() != 200 || transfers < 120 || reads < 20 || ok < 150 || dupKeys == 0 {
		t.Errorf("history: %d ops, %d transfers, %d reads, %d ok, %d resubmitted keys\n%s", h.Len(), transfers, reads, ok, dupKeys, stdout.String())
	}
}
