package load

import (
	"context"
	"errors"
	"fmt"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// LedgerTarget plays a workload against a ledger cluster through the project's ledger client
// (leader tracking, same-id retries, Unknown on timeout). Regions are labels only: every
// request goes to the cluster the client knows.
type LedgerTarget struct {
	Client *client.Client
}

var _ Target = LedgerTarget{}

// Transfer implements Target.
func (l LedgerTarget) Transfer(ctx context.Context, region int, t Transfer) Outcome {
	res := l.Client.Transfer(ctx, ledger.Transfer{ID: t.ID, From: AccountID(t.From), To: AccountID(t.To), Amount: t.Amount})
	switch res.Outcome {
	case outcome.OK:
		return Outcome{Kind: outcome.OK}
	case outcome.Rejected:
		return Outcome{Kind: outcome.Rejected, Reason: firstReason(res.Reason, res.Err, "rejected")}
	case outcome.Unknown:
		return Outcome{Kind: outcome.Unknown, Reason: errReason(ctx, res.Err, "unknown")}
	}
	return Outcome{Kind: outcome.Failed, Reason: errReason(ctx, res.Err, "failed")}
}

// Read implements Target; the balance seen goes to Detail.Amount.
func (l LedgerTarget) Read(ctx context.Context, region int, account int, stale bool) Outcome {
	acc, err := l.Client.Account(ctx, AccountID(account), stale)
	if err != nil {
		// A read changes nothing, so a timed-out read is simply failed.
		return Outcome{Kind: outcome.Failed, Reason: errReason(ctx, err, "read failed")}
	}
	out := Outcome{Kind: outcome.OK}
	out.Detail.Amount = acc.Balance
	return out
}

func firstReason(reason string, err error, def string) string {
	if reason != "" {
		return reason
	}
	return errReason(context.Background(), err, def)
}

// errReason turns an error into a low-cardinality reason: the API's reason, "timeout", or
// the default.
func errReason(ctx context.Context, err error, def string) string {
	var api *client.APIError
	switch {
	case errors.As(err, &api) && api.Reason != "":
		return api.Reason
	case errors.As(err, &api):
		return fmt.Sprintf("http %d", api.Code)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return def
}
