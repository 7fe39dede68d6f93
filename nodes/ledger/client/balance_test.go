package client_test

import (
	"context"
	"errors"
	"testing"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// TestWriteBalanceAppliesAndRefusesAStaleFence: a blind write sets the balance; a write with a fence lower
// than one already seen is refused with 409 stale_fence and changes nothing.
func TestWriteBalanceAppliesAndRefusesAStaleFence(t *testing.T) {
	c := cluster(t, 1)
	cfg := client.DefaultConfig(c.URLs())
	cfg.Deadline = patience
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.CreateAccounts(ctx, []ledger.Account{{ID: "a", Balance: 100}}); err != nil {
		t.Fatal(err)
	}
	res, o, err := cl.WriteBalance(ctx, ledger.BalanceWrite{Account: "a", Balance: 70, Payment: "p1", Fence: 5, HasRead: true, ReadBalance: 100, ReadVersion: 0})
	if err != nil || o != outcome.OK || !res.Applied || res.Old != 100 || res.New != 70 {
		t.Fatalf("write: %+v %v %v", res, o, err)
	}
	_, o, err = cl.WriteBalance(ctx, ledger.BalanceWrite{Account: "a", Balance: 1, Payment: "p2", Fence: 4})
	var api *client.APIError
	if o != outcome.Rejected || !errors.As(err, &api) || api.Reason != ledger.ErrorStaleFence {
		t.Fatalf("stale fence: outcome %v err %v, want Rejected stale_fence", o, err)
	}
	if acc, err := cl.Account(ctx, "a", false); err != nil || acc.Balance != 70 {
		t.Fatalf("balance after a refused write: %+v %v, want 70", acc, err)
	}
}
