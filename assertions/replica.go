package assertions

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Limits on a replica export.
const (
	// MaxExportLine bounds one line of an export in bytes.
	MaxExportLine = 1 << 20
	// MaxExportRecords bounds the records of one export, so a runaway stream cannot exhaust memory.
	MaxExportRecords = 1 << 26
)

// Transfer statuses as the ledger exports them.
const (
	StatusCommitted = "committed"
	StatusRejected  = "rejected"
)

// Replica is one ledger node's final state as its export shows it. The lab sets Live (the node
// was running when the run ended) and, when the export could not be fetched or parsed, Err.
type Replica struct {
	Node         string
	Live         bool
	AppliedIndex uint64
	// StateHash is the ledger's hash of its state; empty when the state moved while the export
	// was being written (the hash would not describe the lines).
	StateHash string
	Accounts  map[string]Account
	Transfers map[string]Transfer
	// Writes are the blind balance writes in journal order.
	Writes []Write
	// Repeated holds transfer records whose id had already appeared in the export: a second
	// ledger entry for one idempotency key (a healthy ledger never produces one).
	Repeated []Transfer
	// Err says why the replica could not be read; the other fields are then empty.
	Err error
}

// Readable reports whether the replica's state is known.
func (r *Replica) Readable() bool { return r.Err == nil && r.Accounts != nil }

// Account is one account of a replica, in minor units.
type Account struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
	Version uint64 `json:"version"`
	Initial int64  `json:"initial"`
}

// Transfer is one decided transfer of a replica's journal. ID is the ledger's transfer id; Payment is
// the client's payment key the entry served, empty when it is the transfer id itself (see PaymentKey).
type Transfer struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Amount  int64  `json:"amount"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Index   uint64 `json:"index"`
	Payment string `json:"payment,omitempty"`
}

// PaymentKey is the payment key the entry served: Payment, or the transfer id when Payment is empty.
func (t Transfer) PaymentKey() string {
	if t.Payment == "" {
		return t.ID
	}
	return t.Payment
}

// Committed reports whether the transfer moved money.
func (t Transfer) Committed() bool { return t.Status == StatusCommitted }

// Write is one blind balance write (PUT /v1/accounts/{id}/balance) of a replica's journal. Old and
// OldVersion are the account's balance and version just before the write; ReadBalance and ReadVersion
// what the writer said it read before computing New (nil when it did not say, or the journal predates
// them). A write that read another version than the one it overwrote is a lost update.
type Write struct {
	Payment     string  `json:"payment"`
	Account     string  `json:"account"`
	Old         int64   `json:"old_balance"`
	New         int64   `json:"new_balance"`
	Fence       uint64  `json:"fence,omitempty"`
	Index       uint64  `json:"index"`
	OldVersion  *uint64 `json:"old_version,omitempty"`
	ReadBalance *int64  `json:"read_balance,omitempty"`
	ReadVersion *uint64 `json:"read_version,omitempty"`
}

// Equal reports whether two journal records of a blind write are the same write: every field equal, the
// optional ones compared by value (two replicas' exports never share pointers, so == on Write compares
// addresses and called every pair of equal journals different — a false replicas_converge failure).
func (w Write) Equal(o Write) bool {
	return w.Payment == o.Payment && w.Account == o.Account && w.Old == o.Old && w.New == o.New && w.Fence == o.Fence &&
		w.Index == o.Index && eqPtr(w.OldVersion, o.OldVersion) && eqPtr(w.ReadBalance, o.ReadBalance) && eqPtr(w.ReadVersion, o.ReadVersion)
}

// String shows a write with its optional fields by value.
func (w Write) String() string {
	opt := func(name string, v any) string {
		switch p := v.(type) {
		case *uint64:
			if p != nil {
				return fmt.Sprintf(" %s %d", name, *p)
			}
		case *int64:
			if p != nil {
				return fmt.Sprintf(" %s %d", name, *p)
			}
		}
		return ""
	}
	return fmt.Sprintf("payment %s: %s %d → %d at index %d fence %d%s%s%s", w.Payment, w.Account, w.Old, w.New, w.Index, w.Fence,
		opt("old version", w.OldVersion), opt("read balance", w.ReadBalance), opt("read version", w.ReadVersion))
}

func eqPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// Stale reports whether the write overwrote a balance its writer had not read: the version it read is
// not the version it overwrote (or, without versions, the balance it read is not the one it overwrote).
// A write that did not say what it read is never stale by this test.
func (w Write) Stale() bool {
	switch {
	case w.ReadVersion != nil && w.OldVersion != nil:
		return *w.ReadVersion != *w.OldVersion
	case w.ReadBalance != nil:
		return *w.ReadBalance != w.Old
	}
	return false
}

// Checked reports whether the write said what it read, so Stale can judge it.
func (w Write) Checked() bool { return w.ReadBalance != nil || w.ReadVersion != nil }

// exportRecord mirrors one line of the ledger's GET /v1/export stream.
type exportRecord struct {
	Type   string `json:"type"`
	Header *struct {
		Node         string `json:"node"`
		AppliedIndex uint64 `json:"applied_index"`
		StateHash    string `json:"state_hash"`
	} `json:"header"`
	Account  *Account  `json:"account"`
	Transfer *Transfer `json:"transfer"`
	Write    *Write    `json:"write"`
	Trailer  *trailer  `json:"trailer"`
	Error    string    `json:"error"`
}

// trailer mirrors the ledger's ExportTrailer: the counts of the records before it and the hex
// SHA-256 of their bytes (every line, with its newline, from the header on).
type trailer struct {
	Accounts    int    `json:"accounts"`
	Transfers   int    `json:"transfers"`
	Writes      int    `json:"writes"`
	LinesSHA256 string `json:"lines_sha256"`
}

// Errors wrapped by ReadReplica.
var (
	// ErrExportFailed: the node reported an error inside its export.
	ErrExportFailed = errors.New("the node reported an export error")
	// ErrNoTrailer: the export ends without its trailer record — it was cut short (at a line
	// boundary or not), or a ledger older than the trailer format wrote it. Either way it may
	// not be the whole replica, so it is refused.
	ErrNoTrailer = errors.New("the export has no trailer: cut short, or written by a ledger older than the trailer format")
	// ErrTrailerMismatch: the trailer's counts or hash disagree with the lines before it.
	ErrTrailerMismatch = errors.New("the export does not match its trailer")
)

// ReadReplica parses a ledger export (JSON lines: a header, then accounts, transfers and
// writes, then a trailer). The header must come first and the trailer last, with the counts of
// the records and the SHA-256 of the bytes before it: an export without it wraps ErrNoTrailer
// (a cut or old-format export), one that disagrees with it ErrTrailerMismatch. An "error"
// record (ErrExportFailed), a malformed or unknown line, a duplicate account, a line after the
// trailer or an over-long stream is an error naming the line. A transfer id seen twice is not
// an error: the second record goes to Repeated, for no_double_deduct to report. Live is left
// false: the caller knows whether the node was running.
func ReadReplica(r io.Reader) (Replica, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxExportLine)
	x := exportReader{lines: sha256.New()}
	for sc.Scan() {
		x.line++
		if err := x.readLine(sc.Bytes()); err != nil {
			return Replica{}, err
		}
	}
	if err := sc.Err(); err != nil {
		return Replica{}, fmt.Errorf("read replica export after line %d: %w", x.line, err)
	}
	if err := x.whole(); err != nil {
		return Replica{}, err
	}
	return x.rep, nil
}

// exportReader is ReadReplica's state: the replica read so far, and what the lines before the
// trailer hold, to hold against the trailer.
type exportReader struct {
	rep    Replica
	line   int
	header bool
	tr     *trailer
	seen   trailer   // what the lines before the trailer hold
	lines  hash.Hash // SHA-256 of the lines before the trailer
}

// readLine takes one line of the export: blank lines count towards the trailer's hash, nothing but
// blank lines may follow the trailer.
func (x *exportReader) readLine(raw []byte) error {
	b := bytes.TrimSpace(raw)
	if x.tr != nil {
		if len(b) == 0 {
			return nil
		}
		return fmt.Errorf("read replica export line %d: a record after the trailer", x.line)
	}
	if len(b) == 0 {
		x.hashLine(raw)
		return nil
	}
	if x.line > MaxExportRecords {
		return fmt.Errorf("read replica export: more than %d records", MaxExportRecords)
	}
	var rec exportRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return fmt.Errorf("read replica export line %d: %w", x.line, err)
	}
	switch {
	case rec.Type == "error":
		return fmt.Errorf("read replica export %s line %d: %w: %s", x.rep.Node, x.line, ErrExportFailed, rec.Error)
	case rec.Type == "trailer":
		if !x.header || rec.Trailer == nil {
			return fmt.Errorf("read replica export line %d: a trailer before the header, or an empty one", x.line)
		}
		x.tr = rec.Trailer
		return nil
	}
	x.hashLine(raw)
	if !x.header && rec.Type != "header" {
		return fmt.Errorf("read replica export line %d: %q record before the header", x.line, rec.Type)
	}
	return x.record(&rec)
}

func (x *exportReader) hashLine(raw []byte) {
	x.lines.Write(raw)
	x.lines.Write([]byte{'\n'})
}

// record adds one header, account, transfer or write record to the replica.
func (x *exportReader) record(rec *exportRecord) error {
	rep := &x.rep
	switch rec.Type {
	case "header":
		if x.header || rec.Header == nil {
			return fmt.Errorf("read replica export line %d: a second or empty header", x.line)
		}
		x.header = true
		rep.Node, rep.AppliedIndex, rep.StateHash = rec.Header.Node, rec.Header.AppliedIndex, rec.Header.StateHash
		rep.Accounts = map[string]Account{}
		rep.Transfers = map[string]Transfer{}
	case "account":
		a := rec.Account
		if a == nil || a.ID == "" {
			return fmt.Errorf("read replica export line %d: account record without an id", x.line)
		}
		if _, dup := rep.Accounts[a.ID]; dup {
			return fmt.Errorf("read replica export line %d: account %q appears twice", x.line, a.ID)
		}
		rep.Accounts[a.ID] = *a
		x.seen.Accounts++
	case "transfer":
		return x.transfer(rec.Transfer)
	case "write":
		w := rec.Write
		if w == nil || w.Account == "" {
			return fmt.Errorf("read replica export line %d: write record without an account", x.line)
		}
		rep.Writes = append(rep.Writes, *w)
		x.seen.Writes++
	default:
		return fmt.Errorf("read replica export line %d: unknown record type %q", x.line, rec.Type)
	}
	return nil
}

// transfer adds a transfer record; a second record under one id is a repeated entry.
func (x *exportReader) transfer(t *Transfer) error {
	if t == nil || t.ID == "" {
		return fmt.Errorf("read replica export line %d: transfer record without an id", x.line)
	}
	if t.Status != StatusCommitted && t.Status != StatusRejected {
		return fmt.Errorf("read replica export line %d: transfer %q has status %q, want committed or rejected", x.line, t.ID, t.Status)
	}
	x.seen.Transfers++
	if _, dup := x.rep.Transfers[t.ID]; dup {
		x.rep.Repeated = append(x.rep.Repeated, *t)
		return nil
	}
	x.rep.Transfers[t.ID] = *t
	return nil
}

// whole checks, at the end of the export, that it had a header and a trailer agreeing with the lines
// before it.
func (x *exportReader) whole() error {
	if !x.header {
		return fmt.Errorf("read replica export: no header (empty or truncated export): %w", ErrNoTrailer)
	}
	seen, tr := x.seen, x.tr
	if tr == nil {
		return fmt.Errorf("read replica export %s after line %d (%d accounts, %d transfers, %d writes read): %w",
			x.rep.Node, x.line, seen.Accounts, seen.Transfers, seen.Writes, ErrNoTrailer)
	}
	seen.LinesSHA256 = hex.EncodeToString(x.lines.Sum(nil))
	if *tr != seen {
		return fmt.Errorf("read replica export %s: %w: it says %d accounts, %d transfers, %d writes, lines %s; the export holds %d, %d, %d, lines %s",
			x.rep.Node, ErrTrailerMismatch, tr.Accounts, tr.Transfers, tr.Writes, short(tr.LinesSHA256), seen.Accounts, seen.Transfers, seen.Writes, short(seen.LinesSHA256))
	}
	return nil
}
