package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"paylab/nodes/ledger"
	"paylab/outcome"
)

// balanceWriteBody is the body of PUT /v1/accounts/{id}/balance (ledger's handleWriteBalance).
type balanceWriteBody struct {
	Balance     int64   `json:"balance"`
	Payment     string  `json:"payment"`
	Fence       uint64  `json:"fence,omitempty"`
	ReadBalance *int64  `json:"read_balance,omitempty"`
	ReadVersion *uint64 `json:"read_version,omitempty"`
}

// WriteBalance sets an account's balance outright (the ledger's blind write, which a naive gateway's
// read-check-write uses; the ledger's own transfers never need it). A non-zero w.Fence is checked by the
// ledger against the highest fence seen for the account: a lower one is refused with 409 stale_fence
// (*APIError). With w.HasRead the journal keeps what the writer read, so a checker can see a lost update.
// The outcome says whether the write applied (OK), was refused (Rejected: the error is an *APIError), or
// is unknown (it may have applied: a retry writes the same balance again).
func (c *Client) WriteBalance(ctx context.Context, w ledger.BalanceWrite) (ledger.BalanceWriteResult, outcome.Kind, error) {
	body := balanceWriteBody{Balance: w.Balance, Payment: w.Payment, Fence: w.Fence}
	if w.HasRead {
		body.ReadBalance, body.ReadVersion = &w.ReadBalance, &w.ReadVersion
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return ledger.BalanceWriteResult{}, outcome.Failed, fmt.Errorf("encode balance write: %w", err)
	}
	var res ledger.BalanceWriteResult
	a := c.call(ctx, http.MethodPut, "/v1/accounts/"+w.Account+"/balance", raw, func(code int, raw []byte) (outcome.Kind, error) {
		switch {
		case code == http.StatusOK:
			if err := json.Unmarshal(raw, &res); err != nil {
				return outcome.Failed, fmt.Errorf("decode balance write result: %w", err)
			}
			return outcome.OK, nil
		case code >= 400 && code < 500:
			return outcome.Rejected, httpError(code, raw)
		}
		return outcome.Failed, httpError(code, raw)
	})
	if a.err != nil {
		return res, a.outcome, fmt.Errorf("write balance of %s: %w", w.Account, a.err)
	}
	return res, a.outcome, nil
}
