package ledger

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// ExportRecord is one line of an export: exactly one of its pointer fields is set, by Type.
type ExportRecord struct {
	// Type is "header", "account", "transfer", "write", "trailer" (the last line of a whole export), or
	// "error" when the export failed part-way.
	Type     string          `json:"type"`
	Header   *ExportHeader   `json:"header,omitempty"`
	Account  *AccountState   `json:"account,omitempty"`
	Transfer *ExportTransfer `json:"transfer,omitempty"`
	Write    *ExportWrite    `json:"write,omitempty"`
	Trailer  *ExportTrailer  `json:"trailer,omitempty"`
}

// ExportTrailer closes a whole export: the counts of the records before it and the SHA-256 of their
// bytes, so a reader can tell a complete export from one cut at a line boundary (a dropped connection,
// a crashed node, a full disk) and refuse the latter instead of auditing part of a replica as the whole.
type ExportTrailer struct {
	// Accounts, Transfers and Writes count the records of each type in the export.
	Accounts  int `json:"accounts"`
	Transfers int `json:"transfers"`
	Writes    int `json:"writes"`
	// LinesSHA256 is the hex SHA-256 of every byte before the trailer line: the header and every record,
	// each with its newline.
	LinesSHA256 string `json:"lines_sha256"`
}

// ExportHeader opens an export: the replica's applied index and state hash at the moment of the export.
type ExportHeader struct {
	Node         string `json:"node,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	StateHash    string `json:"state_hash"`
}

// ExportTransfer is a decided transfer with its result. Its Transfer carries the payment key it served
// ("payment"), omitted when that is the transfer id itself.
type ExportTransfer struct {
	Transfer
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	Index  uint64 `json:"index"`
}

// ExportWrite is one journalled blind balance write. OldVersion is the account's version just before the
// write (absent in records journalled before versions were kept); ReadBalance and ReadVersion are what the
// writer said it read (absent when it did not say). A write whose ReadVersion is not OldVersion overwrote a
// balance it had not seen: a lost update.
type ExportWrite struct {
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

// Export writes the replica's whole state as JSON lines — a header, then every account, transfer and
// balance write, then a trailer with their counts and the hash of their bytes — from one read
// transaction, so the lines are a consistent cut. The checkers audit it. On an error no trailer is
// written, so a reader refuses what came out before it.
func (f *FSM) Export(w io.Writer, node string) error {
	sum, err := f.Summary()
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	lines := sha256.New()
	e := exporter{enc: json.NewEncoder(io.MultiWriter(bw, lines))}
	err = f.view(func(tx *bolt.Tx) error {
		// The summary above ran in another transaction; recompute the applied index in this one so the
		// header describes exactly what follows.
		hdr := ExportHeader{Node: node, StateHash: sum.Hash}
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			hdr.AppliedIndex = binary.BigEndian.Uint64(v)
		}
		if hdr.AppliedIndex != sum.AppliedIndex {
			hdr.StateHash = "" // state moved between the two reads; the hash would not match the lines
		}
		if err := e.enc.Encode(ExportRecord{Type: "header", Header: &hdr}); err != nil {
			return err
		}
		if err := e.accounts(tx); err != nil {
			return err
		}
		var omit []byte
		if f.opts.ExportOmitsTransfer {
			omit = lastCommitted(tx)
		}
		if err := e.transfers(tx, omit); err != nil {
			return err
		}
		return e.writes(tx)
	})
	if err != nil {
		return fmt.Errorf("export state of %s: %w", f.path, err)
	}
	e.tr.LinesSHA256 = hex.EncodeToString(lines.Sum(nil))
	if err := json.NewEncoder(bw).Encode(ExportRecord{Type: "trailer", Trailer: &e.tr}); err != nil {
		return fmt.Errorf("export state of %s: trailer: %w", f.path, err)
	}
	return bw.Flush()
}

// exporter encodes the records of one export and counts them for its trailer.
type exporter struct {
	enc *json.Encoder
	tr  ExportTrailer
}

// accounts exports every account.
func (e *exporter) accounts(tx *bolt.Tx) error {
	return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
		rec, ok := decodeAccount(v)
		if !ok {
			return fmt.Errorf("account record %q is corrupt", k)
		}
		e.tr.Accounts++
		return e.enc.Encode(ExportRecord{Type: "account", Account: &AccountState{ID: string(k), Balance: rec.balance, Version: rec.version, Initial: rec.initial}})
	})
}

// transfers exports every decided transfer but omit (nil: none; set only by a test-only breakage).
func (e *exporter) transfers(tx *bolt.Tx, omit []byte) error {
	return tx.Bucket(bucketTransfers).ForEach(func(k, v []byte) error {
		if omit != nil && string(k) == string(omit) {
			return nil
		}
		st, ok := decodeTransferRecord(string(k), v)
		if !ok {
			return fmt.Errorf("transfer record %q is corrupt", k)
		}
		e.tr.Transfers++
		return e.enc.Encode(ExportRecord{Type: "transfer", Transfer: &ExportTransfer{Transfer: st.t, Status: st.r.Status, Reason: st.r.Reason, Index: st.r.Index}})
	})
}

// writes exports every journalled blind balance write.
func (e *exporter) writes(tx *bolt.Tx) error {
	return tx.Bucket(bucketWrites).ForEach(func(k, v []byte) error {
		ew, err := decodeExportWrite(k, v)
		if err != nil {
			return err
		}
		e.tr.Writes++
		return e.enc.Encode(ExportRecord{Type: "write", Write: ew})
	})
}

// decodeExportWrite decodes a record of the writes bucket (key: index‖payment id; value: account length,
// account, old and new balance, fence, then optionally the old version, then optionally the balance and
// version the writer read).
func decodeExportWrite(k, v []byte) (*ExportWrite, error) {
	if len(k) < 8 || len(v) < 1 {
		return nil, fmt.Errorf("write record %x is corrupt", k)
	}
	o := 1 + int(v[0])
	if n := len(v) - o; n != 24 && n != 32 && n != 48 {
		return nil, fmt.Errorf("write record %x is corrupt", k)
	}
	ew := &ExportWrite{
		Payment: string(k[8:]), Account: string(v[1:o]), Index: binary.BigEndian.Uint64(k),
		Old: int64(binary.BigEndian.Uint64(v[o:])), New: int64(binary.BigEndian.Uint64(v[o+8:])), Fence: binary.BigEndian.Uint64(v[o+16:]),
	}
	if len(v) >= o+32 {
		ov := binary.BigEndian.Uint64(v[o+24:])
		ew.OldVersion = &ov
	}
	if len(v) == o+48 {
		rb, rv := int64(binary.BigEndian.Uint64(v[o+32:])), binary.BigEndian.Uint64(v[o+40:])
		ew.ReadBalance, ew.ReadVersion = &rb, &rv
	}
	return ew, nil
}
