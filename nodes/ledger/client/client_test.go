package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"testing"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
	"paylab/outcome"
)

// patience bounds every wait for something that must happen (a cluster
// starting, an election). It is generous on purpose: on a busy machine an
// election can take seconds, and a test must fail only when the thing never
// happens.
const patience = 60 * time.Second

func cluster(t *testing.T, n int) *ledgertest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientFollowsLeaderAndRetriesWithSameID(t *testing.T) {
	c := cluster(t, 3)
	// A budget that outlasts an election on a starved machine (the default rides out about 3 s of
	// "no leader"): what is under test is that a leader change never makes a transfer fail, not
	// how fast the cluster elects.
	cfg := client.DefaultConfig(c.URLs())
	cfg.Deadline, cfg.MaxAttempts = patience, 2000
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.CreateAccounts(ctx, []ledger.Account{{ID: "a", Balance: 1_000_000}, {ID: "b", Balance: 0}}); err != nil {
		t.Fatal(err)
	}
	leaderIndex := func() int {
		for deadline := time.Now().Add(patience); ; time.Sleep(5 * time.Millisecond) {
			if i := c.LeaderIndex(); i >= 0 || time.Now().After(deadline) {
				return i
			}
		}
	}
	leaderID := func() string {
		if i := leaderIndex(); i >= 0 {
			return c.Config(i).ID
		}
		return "(none)"
	}
	// The client sends to the leader (asked again after a read if an election moved it meanwhile).
	for deadline := time.Now().Add(patience); cl.Leader() != leaderID(); {
		if time.Now().After(deadline) {
			t.Fatalf("client sends to %s, leader is %s", cl.Leader(), leaderID())
		}
		if _, err := cl.Account(ctx, "a", false); err != nil {
			t.Logf("read while the leader moves: %v", err)
		}
	}
	var okIDs []string
	for i := 0; i < 300; i++ {
		if i == 100 {
			if err := c.Crash(leaderIndex()); err != nil {
				t.Fatal(err)
			}
		}
		r := cl.Transfer(ctx, ledger.Transfer{From: "a", To: "b", Amount: 1})
		switch r.Outcome {
		case outcome.OK:
			okIDs = append(okIDs, r.ID)
		case outcome.Unknown:
		default:
			t.Fatalf("transfer %d: %s %v (a leader change must never make a transfer fail)", i, r.Outcome, r.Err)
		}
	}
	if !sort.StringsAreSorted(okIDs) {
		t.Fatal("generated ids are not time-ordered")
	}
	l, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range okIDs {
		if _, _, err := l.FSM().LookupTransfer(id); err != nil {
			t.Fatalf("acknowledged transfer %s missing at the new leader: %v", id, err)
		}
	}
	acc, err := cl.Account(ctx, "b", false)
	if err != nil || acc.Balance < int64(len(okIDs)) {
		t.Fatalf("b = %+v %v, want ≥ %d", acc, err, len(okIDs))
	}
	// Resubmitting an acknowledged id is answered as a duplicate, not applied again.
	again := cl.Transfer(ctx, ledger.Transfer{ID: okIDs[0], From: "a", To: "b", Amount: 1})
	if again.Outcome != outcome.OK || !again.Duplicate {
		t.Fatalf("resubmit: %+v", again)
	}
}

func TestClientReportsTimeoutAsUnknown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(ln)
	defer func() { close(release); srv.Close() }()

	cfg := client.DefaultConfig(map[string]string{"stuck": "http://" + ln.Addr().String()})
	cfg.AttemptTimeout, cfg.Deadline, cfg.MaxAttempts = 50*time.Millisecond, 300*time.Millisecond, 3
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := cl.Transfer(context.Background(), ledger.Transfer{From: "a", To: "b", Amount: 1})
	if r.Outcome != outcome.Unknown {
		t.Fatalf("a timed-out transfer came back %s (%v); it may have committed, so it must be unknown", r.Outcome, r.Err)
	}
}

func TestClientReportsRefusedConnectionAsFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused, nothing can have been sent
	cfg := client.DefaultConfig(map[string]string{"gone": "http://" + addr})
	cfg.MaxAttempts, cfg.Backoff = 3, time.Millisecond
	cl, _ := client.New(cfg)
	r := cl.Transfer(context.Background(), ledger.Transfer{From: "a", To: "b", Amount: 1})
	if r.Outcome != outcome.Failed || r.Attempts != 3 {
		t.Fatalf("refused: %s after %d attempts (%v)", r.Outcome, r.Attempts, r.Err)
	}
}

func ExampleClient_Transfer() {
	ctx := context.Background()
	c, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: 1})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	cl, _ := client.New(client.DefaultConfig(c.URLs()))
	defer cl.Close()
	_ = cl.CreateAccounts(ctx, []ledger.Account{{ID: "alice", Balance: 500}, {ID: "bob", Balance: 0}})
	r := cl.Transfer(ctx, ledger.Transfer{ID: "pay-1", From: "alice", To: "bob", Amount: 200})
	fmt.Println(r.Outcome, r.Status)
	r = cl.Transfer(ctx, ledger.Transfer{ID: "pay-1", From: "alice", To: "bob", Amount: 200})
	fmt.Println(r.Outcome, r.Status, "duplicate:", r.Duplicate)
	r = cl.Transfer(ctx, ledger.Transfer{ID: "pay-2", From: "alice", To: "bob", Amount: 1000})
	fmt.Println(r.Outcome, r.Reason)
	// Output:
	// ok committed
	// ok committed duplicate: true
	// rejected insufficient_funds
}
