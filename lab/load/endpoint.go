package load

import (
	"context"
	"fmt"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
)

// accountsTimeout bounds creating a ledger endpoint's accounts.
const accountsTimeout = 60 * time.Second

// LedgerEndpoint is a ledger cluster outside the lab — or a gateway in front of one, its API mirroring
// the ledger's — driven with a payment workload through the ledger client.
type LedgerEndpoint struct {
	// Nodes maps node ids to base URLs.
	Nodes map[string]string
	// Signer signs every request (a gateway's HMAC signatures); nil for a ledger.
	Signer client.RequestSigner
	// Timeout bounds one operation, retries included (and each attempt).
	Timeout time.Duration
	// MaxConnsPerNode bounds the client's connections to each node.
	MaxConnsPerNode int
	// Workload is what the operations do.
	Workload Workload
}

// LedgerConn is an open LedgerEndpoint: the client and the workload's operation on it.
type LedgerConn struct {
	c        *client.Client
	op       OpFunc
	accounts int
}

// Open builds the client and the workload's operation. Errors: the client's configuration or the
// workload is refused.
func (e LedgerEndpoint) Open() (*LedgerConn, error) {
	cfg := client.DefaultConfig(e.Nodes)
	cfg.MaxConnsPerNode = e.MaxConnsPerNode
	cfg.Deadline = e.Timeout
	cfg.AttemptTimeout = min(cfg.AttemptTimeout, e.Timeout)
	cfg.Signer = e.Signer
	c, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("ledger client: %w", err)
	}
	op, err := e.Workload.Op(LedgerTarget{Client: c})
	if err != nil {
		c.Close()
		return nil, err
	}
	return &LedgerConn{c: c, op: op, accounts: e.Workload.Accounts}, nil
}

// Op is the workload's operation.
func (c *LedgerConn) Op() OpFunc { return c.op }

// CreateAccounts creates the workload's accounts with an opening balance (accounts that exist are kept),
// within a minute.
func (c *LedgerConn) CreateAccounts(ctx context.Context, balance int64) error {
	ctx, cancel := context.WithTimeout(ctx, accountsTimeout)
	defer cancel()
	if err := c.c.CreateAccounts(ctx, OpeningAccounts(c.accounts, balance)); err != nil {
		return fmt.Errorf("create accounts: %w", err)
	}
	return nil
}

// Close closes the client.
func (c *LedgerConn) Close() { c.c.Close() }

// OpeningAccounts are the accounts a workload of n accounts plays on (AccountID 0 … n-1), each with the
// opening balance.
func OpeningAccounts(n int, balance int64) []ledger.Account {
	accs := make([]ledger.Account, n)
	for i := range accs {
		accs[i] = ledger.Account{ID: AccountID(i), Balance: balance}
	}
	return accs
}
