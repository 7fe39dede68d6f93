package ledger

import (
	"errors"
	"fmt"
)

// Limits on input. They are part of the API contract and of the raft entry format.
const (
	// MaxIDLen is the longest account, transfer or payment id.
	MaxIDLen = 64
	// MaxAmount is the largest amount of one transfer, in minor units.
	MaxAmount = 1_000_000_000_000_000
	// MaxBatch is the most transfers (or accounts) in one batch request and in one raft entry.
	MaxBatch = 8192
	// MaxBalance is the largest balance an account may be created or set with.
	MaxBalance = 1 << 62
)

// Sentinel errors. Callers match them with errors.Is; the HTTP layer maps them to status codes.
var (
	// ErrNotLeader means this node cannot accept writes or linearizable reads; retry at the leader.
	ErrNotLeader = errors.New("not leader")
	// ErrNotFound means the account does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means an account with that id already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict means an idempotency key was reused with a different body, or a fence was stale.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input broke a rule of the API; nothing was changed.
	ErrInvalid = errors.New("invalid input")
	// ErrClosed means the node or state machine has been closed.
	ErrClosed = errors.New("closed")
	// ErrOverloaded means the node shed the request before doing anything with it; retry later.
	ErrOverloaded = errors.New("overloaded")
)

// ValidID reports whether s is a legal account, transfer or payment id: [A-Za-z0-9_.-]{1,64}.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Transfer moves Amount minor units from one account to another. ID is the ledger's idempotency key.
//
// Payment is the client's payment key the transfer serves (the id the client sent to a gateway); empty means
// the transfer id itself, which is what a healthy gateway and the ledger client send. It is journalled with
// the transfer (and exported), so a checker can see two ledger entries that serve one payment — a retry
// reissued under a new ledger id — which the dedupe by transfer id cannot.
type Transfer struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Amount  int64  `json:"amount"`
	Payment string `json:"payment,omitempty"`
}

// PaymentKey is the payment key the transfer serves: Payment, or the transfer id when Payment is empty.
func (t *Transfer) PaymentKey() string {
	if t.Payment == "" {
		return t.ID
	}
	return t.Payment
}

// Validate checks a transfer against the API rules; the error wraps ErrInvalid and names the field.
func (t Transfer) Validate() error {
	switch {
	case !ValidID(t.ID):
		return fmt.Errorf("%w: id %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, t.ID)
	case !ValidID(t.From):
		return fmt.Errorf("%w: from %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, t.From)
	case !ValidID(t.To):
		return fmt.Errorf("%w: to %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, t.To)
	case t.From == t.To:
		return fmt.Errorf("%w: from and to are the same account %q", ErrInvalid, t.From)
	case t.Amount <= 0 || t.Amount > MaxAmount:
		return fmt.Errorf("%w: amount %d must be in 1..%d", ErrInvalid, t.Amount, int64(MaxAmount))
	case t.Payment != "" && !ValidID(t.Payment):
		return fmt.Errorf("%w: payment %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, t.Payment)
	}
	return nil
}

// Account is an account to create, with its opening balance.
type Account struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
}

// Validate checks an account against the API rules; the error wraps ErrInvalid.
func (a Account) Validate() error {
	switch {
	case !ValidID(a.ID):
		return fmt.Errorf("%w: id %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, a.ID)
	case a.Balance < 0 || a.Balance > MaxBalance:
		return fmt.Errorf("%w: balance %d must be in 0..%d", ErrInvalid, a.Balance, int64(MaxBalance))
	}
	return nil
}

// BalanceWrite is a blind absolute write of an account balance, journalled under a payment id. Only the
// gateway's naive lock mode uses it, to reproduce the read-check-write bug; Fence, when non-zero, must not be
// lower than the highest fence seen for the account.
//
// When HasRead is set, ReadBalance and ReadVersion are the balance and version the writer read before it
// computed Balance. The write is applied all the same (it is blind), but the journal keeps them next to the
// version the account really had, so a stale overwrite — a lost update — is visible from the journal alone.
type BalanceWrite struct {
	Account     string `json:"account"`
	Balance     int64  `json:"balance"`
	Payment     string `json:"payment"`
	Fence       uint64 `json:"fence,omitempty"`
	HasRead     bool   `json:"-"`
	ReadBalance int64  `json:"read_balance,omitempty"`
	ReadVersion uint64 `json:"read_version,omitempty"`
}

// Validate checks a balance write against the API rules; the error wraps ErrInvalid.
func (w BalanceWrite) Validate() error {
	switch {
	case !ValidID(w.Account):
		return fmt.Errorf("%w: account %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, w.Account)
	case !ValidID(w.Payment):
		return fmt.Errorf("%w: payment %q must match [A-Za-z0-9_.-]{1,64}", ErrInvalid, w.Payment)
	case w.Balance < 0 || w.Balance > MaxBalance:
		return fmt.Errorf("%w: balance %d must be in 0..%d", ErrInvalid, w.Balance, int64(MaxBalance))
	case w.HasRead && (w.ReadBalance < 0 || w.ReadBalance > MaxBalance):
		return fmt.Errorf("%w: read balance %d must be in 0..%d", ErrInvalid, w.ReadBalance, int64(MaxBalance))
	}
	return nil
}

// Status is the final state of a transfer.
type Status string

// Transfer statuses.
const (
	StatusCommitted Status = "committed"
	StatusRejected  Status = "rejected"
)

// Reasons a transfer is rejected. A rejected transfer changes no balance, but its id is used up: a retry with
// the same id and body returns the same rejection.
const (
	ReasonNone              = ""
	ReasonInsufficientFunds = "insufficient_funds"
	ReasonUnknownAccount    = "unknown_account"
	ReasonInvalid           = "invalid"
	ReasonOverflow          = "balance_overflow"
	// ReasonIDConflict marks a reuse of an id with a different body; nothing is stored for it.
	ReasonIDConflict = "id_conflict"
)

var reasonCodes = []string{ReasonNone, ReasonInsufficientFunds, ReasonUnknownAccount, ReasonInvalid, ReasonOverflow, ReasonIDConflict}

func reasonCode(r string) byte {
	for i, s := range reasonCodes {
		if s == r {
			return byte(i)
		}
	}
	return byte(len(reasonCodes)) // never stored: every reason the FSM produces is listed
}

func reasonString(c byte) string {
	if int(c) < len(reasonCodes) {
		return reasonCodes[c]
	}
	return fmt.Sprintf("reason_%d", c)
}

// TransferResult is the outcome of one transfer, as the state machine decided it.
type TransferResult struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Index is the raft log index of the entry that first decided this transfer.
	Index uint64 `json:"index"`
	// Duplicate is true when the id had been decided before; the result is the original one.
	Duplicate bool `json:"duplicate,omitempty"`
	// Conflict is true when the id had been used before with a different body; nothing was applied.
	Conflict bool `json:"-"`
}

// AccountResult is the outcome of creating one account.
type AccountResult struct {
	ID      string `json:"id"`
	Created bool   `json:"created"`
	// Exists is true when an account with that id was already there; it was left unchanged.
	Exists bool `json:"exists,omitempty"`
}

// BalanceWriteResult is the outcome of a blind balance write.
type BalanceWriteResult struct {
	Account string `json:"account"`
	// Applied is false when the account is missing or the fence was stale.
	Applied bool   `json:"applied"`
	Reason  string `json:"reason,omitempty"`
	Old     int64  `json:"old_balance"`
	New     int64  `json:"new_balance"`
	Index   uint64 `json:"index"`
}

// AccountState is an account as stored: balance, version (number of changes) and the opening balance.
type AccountState struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
	Version uint64 `json:"version"`
	Initial int64  `json:"initial"`
}

// Error codes of the ledger's HTTP API: the "error" field of an ErrorBody. Clients branch on these codes, never
// on the detail text.
const (
	// ErrorNotLeader (503): this node is not the leader; nothing was applied; "leader" names the one it knows.
	ErrorNotLeader = "not_leader"
	// ErrorOutcomeUnknown (503): leadership was lost after the entry was appended, or the commit timed out:
	// the transfer may have applied; a retry with the same id settles it.
	ErrorOutcomeUnknown = "outcome_unknown"
	// ErrorOverloaded (503): the group-commit queue is full; nothing was applied.
	ErrorOverloaded = "overloaded"
	// ErrorShuttingDown (503): the node is closing; nothing was applied.
	ErrorShuttingDown = "shutting_down"
	// ErrorInvalidRequest (400): the request is malformed; nothing was applied.
	ErrorInvalidRequest = "invalid_request"
	// ErrorBodyTooLarge (413): the request body exceeds the limit; nothing was applied.
	ErrorBodyTooLarge = "body_too_large"
	// ErrorNotFound (404): no such account or transfer.
	ErrorNotFound = "not_found"
	// ErrorExists (409): the account already exists.
	ErrorExists = "exists"
	// ErrorConflict (409): the id was used before with another body.
	ErrorConflict = "conflict"
	// ErrorStaleFence (409): a blind write carried a fencing token older than one already seen.
	ErrorStaleFence = "stale_fence"
	// ErrorInternal (500): the node failed; see the detail.
	ErrorInternal = "internal"
)
