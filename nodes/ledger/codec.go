package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Raft entries carry one command in a compact binary form:
//
//	version(1) kind(1) payload
//	create accounts: count(uvarint) { id(str) balance(varint) }*
//	transfers:       count(uvarint) { id(str) from(str) to(str) amount(varint) }*
//	keyed transfers: count(uvarint) { id(str) from(str) to(str) amount(varint) payment(opt) }*
//	balance write:   account(str) balance(varint) payment(str) fence(uvarint) [1 readBalance(varint) readVersion(uvarint)]
//	str = len(uvarint, 1..64) bytes; opt = len(uvarint, 0..64) bytes, 0 meaning "the transfer id"
//
// A batch whose transfers all serve their own id as payment key (what a healthy gateway sends) is encoded as
// plain transfers, byte for byte as before payment keys existed; only a batch with another payment key uses
// the keyed form. The read part of a balance write is present only when the writer said what it read.
//
// The decoder bounds every length and count, so a corrupt or hostile entry yields an error, never a panic
// or an oversized allocation.

const codecVersion = 1

type commandKind byte

const (
	kindCreateAccounts commandKind = 1
	kindTransfers      commandKind = 2
	kindBalanceWrite   commandKind = 3
	kindTransfersKeyed commandKind = 4
)

// command is one decoded raft entry; exactly one of the slices or write is set, by kind.
type command struct {
	kind      commandKind
	accounts  []Account
	transfers []Transfer
	write     BalanceWrite
}

var errCodec = errors.New("decode command")

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ownPayment reports whether t serves its own id as payment key (Payment empty or equal to the id).
func ownPayment(t *Transfer) bool { return t.Payment == "" || t.Payment == t.ID }

// encodeTransfers encodes a batch of transfers as one raft entry.
func encodeTransfers(ts []Transfer) []byte {
	kind := kindTransfers
	n := 3 + binary.MaxVarintLen64
	for i := range ts {
		n += 3 + len(ts[i].ID) + len(ts[i].From) + len(ts[i].To) + binary.MaxVarintLen64
		if !ownPayment(&ts[i]) {
			kind = kindTransfersKeyed
		}
	}
	if kind == kindTransfersKeyed {
		for i := range ts {
			n += 1 + len(ts[i].Payment)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion, byte(kind))
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for i := range ts {
		b = appendStr(b, ts[i].ID)
		b = appendStr(b, ts[i].From)
		b = appendStr(b, ts[i].To)
		b = binary.AppendVarint(b, ts[i].Amount)
		if kind == kindTransfersKeyed {
			if ownPayment(&ts[i]) {
				b = append(b, 0)
			} else {
				b = appendStr(b, ts[i].Payment)
			}
		}
	}
	return b
}

// encodeAccounts encodes a batch of account creations as one raft entry.
func encodeAccounts(as []Account) []byte {
	b := make([]byte, 0, 3+len(as)*(MaxIDLen+12))
	b = append(b, codecVersion, byte(kindCreateAccounts))
	b = binary.AppendUvarint(b, uint64(len(as)))
	for i := range as {
		b = appendStr(b, as[i].ID)
		b = binary.AppendVarint(b, as[i].Balance)
	}
	return b
}

// encodeBalanceWrite encodes a blind balance write as one raft entry.
func encodeBalanceWrite(w BalanceWrite) []byte {
	b := make([]byte, 0, 2+2*MaxIDLen+24)
	b = append(b, codecVersion, byte(kindBalanceWrite))
	b = appendStr(b, w.Account)
	b = binary.AppendVarint(b, w.Balance)
	b = appendStr(b, w.Payment)
	b = binary.AppendUvarint(b, w.Fence)
	if w.HasRead {
		b = append(b, 1)
		b = binary.AppendVarint(b, w.ReadBalance)
		b = binary.AppendUvarint(b, w.ReadVersion)
	}
	return b
}

type decoder struct {
	b   []byte
	err error
	// names, when set, interns account ids: the same few accounts recur in every entry, and each replica
	// decodes every entry (2 of 3 string allocations per transfer).
	names *nameCache
}

// nameCache interns account ids for one state machine's decoder (used from raft's FSM goroutine only).
// It stops growing at maxNames; ids beyond are allocated as usual.
type nameCache struct {
	m map[string]string
}

const maxNames = 1 << 16

func (c *nameCache) intern(b []byte) string {
	if s, ok := c.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(c.m) < maxNames {
		if c.m == nil {
			c.m = make(map[string]string)
		}
		c.m[s] = s
	}
	return s
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCodec, fmt.Sprintf(format, args...))
	}
}

// uvarint reads an unsigned varint; what and suffix name it in the error (passed apart so that naming it
// costs nothing when the input is good).
func (d *decoder) uvarint(what, suffix string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s%s", what, suffix)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string {
	b := d.bytes(what)
	if b == nil {
		return ""
	}
	return string(b)
}

// name reads an account id, interned when the decoder has a name cache.
func (d *decoder) name(what string) string {
	b := d.bytes(what)
	if b == nil {
		return ""
	}
	if d.names != nil {
		return d.names.intern(b)
	}
	return string(b)
}

// bytes reads a length-prefixed id (1..MaxIDLen bytes); nil after an error.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what, " length")
	if d.err != nil {
		return nil
	}
	if n == 0 || n > MaxIDLen || n > uint64(len(d.b)) { // ids are 1..64 bytes: an empty one is corrupt
		d.fail("%s length %d out of range", what, n)
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

// optStr reads an optional id: a zero length is the empty string (no allocation).
func (d *decoder) optStr(what string) string {
	if d.err == nil && len(d.b) > 0 && d.b[0] == 0 {
		d.b = d.b[1:]
		return ""
	}
	return d.str(what)
}

func (d *decoder) count(what string, minItemSize int) int {
	n := d.uvarint(what, " count")
	if d.err != nil {
		return 0
	}
	if n == 0 || n > MaxBatch || n*uint64(minItemSize) > uint64(len(d.b)) {
		d.fail("%s count %d out of range", what, n)
		return 0
	}
	return int(n)
}

// decodeCommand parses one raft entry. It never panics and bounds every allocation by the input size.
func decodeCommand(b []byte) (command, error) { return decodeCommandNames(b, nil) }

// decodeCommandNames is decodeCommand interning account ids in names (nil: no interning).
func decodeCommandNames(b []byte, names *nameCache) (command, error) {
	var c command
	if len(b) < 2 {
		return c, fmt.Errorf("%w: entry of %d bytes is too short", errCodec, len(b))
	}
	if b[0] != codecVersion {
		return c, fmt.Errorf("%w: unknown version %d", errCodec, b[0])
	}
	c.kind = commandKind(b[1])
	d := decoder{b: b[2:], names: names}
	switch c.kind {
	case kindCreateAccounts:
		n := d.count("account", 3)
		c.accounts = make([]Account, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			c.accounts = append(c.accounts, Account{ID: d.str("account id"), Balance: d.varint("balance")})
		}
	case kindTransfers, kindTransfersKeyed:
		keyed := c.kind == kindTransfersKeyed
		minSize := 7
		if keyed {
			minSize = 8
		}
		n := d.count("transfer", minSize)
		c.transfers = make([]Transfer, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			c.transfers = append(c.transfers, Transfer{
				ID: d.str("transfer id"), From: d.name("from"), To: d.name("to"), Amount: d.varint("amount"),
			})
			if keyed {
				// A payment key equal to the id is the id's own: kept empty, as the encoder writes it.
				t := &c.transfers[len(c.transfers)-1]
				if p := d.optStr("payment"); p != t.ID {
					t.Payment = p
				}
			}
		}
		c.kind = kindTransfers // one apply path: Payment empty means the transfer id
	case kindBalanceWrite:
		c.write = BalanceWrite{Account: d.str("account"), Balance: d.varint("balance"), Payment: d.str("payment"), Fence: d.uvarint("fence", "")}
		if d.err == nil && len(d.b) > 0 {
			if d.b[0] != 1 {
				d.fail("bad read marker %d", d.b[0])
			} else {
				d.b = d.b[1:]
				c.write.HasRead = true
				c.write.ReadBalance = d.varint("read balance")
				c.write.ReadVersion = d.uvarint("read version", "")
			}
		}
	default:
		return c, fmt.Errorf("%w: unknown command kind %d", errCodec, b[1])
	}
	if d.err != nil {
		return command{}, d.err
	}
	if len(d.b) != 0 {
		return command{}, fmt.Errorf("%w: %d trailing bytes", errCodec, len(d.b))
	}
	return c, nil
}
