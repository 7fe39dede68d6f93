package cluster

import (
	"context"
	"fmt"

	"paylab/nodes/ledger"
)

// AccountID is the id of the i-th seeded account: "acc-0", "acc-1", … (the ids the load generator draws).
func AccountID(i int) string { return fmt.Sprintf("acc-%d", i) }

// Accounts is n accounts acc-0 … acc-(n-1), each opened with balance: the accounts every lab, bench and test
// cluster is seeded with.
func Accounts(n int, balance int64) []ledger.Account {
	as := make([]ledger.Account, n)
	for i := range as {
		as[i] = ledger.Account{ID: AccountID(i), Balance: balance}
	}
	return as
}

// AccountCreator opens accounts through a ledger's API (a *client.Client).
type AccountCreator interface {
	CreateAccounts(ctx context.Context, as []ledger.Account) error
}

// Seed opens Accounts(n, balance) through c.
func Seed(ctx context.Context, c AccountCreator, n int, balance int64) error {
	if err := c.CreateAccounts(ctx, Accounts(n, balance)); err != nil {
		return fmt.Errorf("seed %d accounts: %w", n, err)
	}
	return nil
}
