package results

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"paylab/outcome"
	"sync"
	"time"
)

// OpType says what an operation did. The generator records OpGeneric for plugged-in operations
// that do not say more.
type OpType uint8

// Operation types of the workload.
const (
	OpGeneric OpType = iota
	OpTransfer
	OpRead
	OpStaleRead
	OpBatch
)

// String names the type for files and reports.
func (t OpType) String() string {
	switch t {
	case OpGeneric:
		return "generic"
	case OpTransfer:
		return "transfer"
	case OpRead:
		return "read"
	case OpStaleRead:
		return "stale_read"
	case OpBatch:
		return "batch"
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

// OpDetail is what the workload knows about an operation beyond its timing: the checkers use it
// to match the history against the ledger. All fields are optional.
type OpDetail struct {
	Type   OpType
	Region uint8  // index of the client region the operation came from
	Key    uint64 // idempotency key number: the transfer id is derived from it; equal keys are resubmissions
	From   uint32 // account index (transfers: debited; reads: the account read)
	To     uint32 // account index credited
	Amount int64  // minor units (transfers); the balance seen (reads)
}

// Op is one operation in the history: a fixed-size record (no pointers), so a history of
// millions of operations is a few flat slices and costs the garbage collector nothing.
// Times are offsets from the history's start.
type Op struct {
	OpDetail
	Seq      uint64        // the generator's sequence number: unique in a run, the op id
	Intended time.Duration // when the schedule said to send it
	Sent     time.Duration // when a worker actually started it
	Done     time.Duration // when the outcome was known
	Items    uint32        // business operations carried (1, or a batch's size)
	Client   uint16        // worker or client number
	Reason   uint16        // index into the history's reason table; 0 is no reason
	Kind     outcome.Kind
}

// opRecordSize is the encoded size of one Op in history.bin.
const opRecordSize = 1 + 1 + 8 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 4 + 2 + 2 + 1

// Limits on a history.
const (
	// MaxReasons bounds the reason table; reasons beyond it are recorded as ReasonOverflow.
	MaxReasons = 1024
	// ReasonOverflow is the text recorded when the reason table is full.
	ReasonOverflow = "(more distinct reasons than the history keeps)"
	// maxReasonLen bounds one reason's length in bytes; longer ones are cut.
	maxReasonLen = 200
	// historyChunk is the number of records allocated at a time.
	historyChunk = 1 << 14
	// MaxHistoryOps bounds what ReadHistory accepts, so a corrupt file cannot ask for terabytes.
	MaxHistoryOps = 1 << 30
)

// History is a bounded, append-only record of operations, safe for concurrent use. It grows in
// chunks up to its capacity; operations beyond the capacity are counted in Dropped, never
// silently lost. Reasons (free text such as "insufficient_funds") are interned in a table of
// at most MaxReasons entries so that records stay fixed-size.
type History struct {
	start    time.Time
	capacity int

	mu      sync.Mutex
	chunks  [][]Op
	n       int
	dropped uint64
	reasons []string
	byText  map[string]uint16
}

// NewHistory returns an empty history whose offsets count from start and which keeps at most
// capacity operations (capacity ≤ 0 means 1).
func NewHistory(start time.Time, capacity int) *History {
	if capacity < 1 {
		capacity = 1
	}
	return &History{
		start:    start,
		capacity: capacity,
		reasons:  []string{""},
		byText:   map[string]uint16{"": 0},
	}
}

// Start is the wall time that offsets in the records count from.
func (h *History) Start() time.Time { return h.start }

// Capacity is the most operations the history keeps.
func (h *History) Capacity() int { return h.capacity }

// Add appends op with its reason text (interned; op.Reason is overwritten). It returns false,
// and counts the operation as dropped, when the history is full.
func (h *History) Add(op Op, reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= h.capacity {
		h.dropped++
		return false
	}
	op.Reason = h.internLocked(reason)
	c := h.n / historyChunk
	if c == len(h.chunks) {
		size := min(historyChunk, h.capacity-h.n)
		h.chunks = append(h.chunks, make([]Op, 0, size))
	}
	h.chunks[c] = append(h.chunks[c], op)
	h.n++
	return true
}

func (h *History) internLocked(reason string) uint16 {
	if reason == "" {
		return 0
	}
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	if i, ok := h.byText[reason]; ok {
		return i
	}
	if len(h.reasons) >= MaxReasons-1 {
		reason = ReasonOverflow
		if i, ok := h.byText[reason]; ok {
			return i
		}
	}
	i := uint16(len(h.reasons))
	h.reasons = append(h.reasons, reason)
	h.byText[reason] = i
	return i
}

// Len is the number of operations kept.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Dropped is the number of operations that arrived after the history was full.
func (h *History) Dropped() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// Ops returns a copy of the records in the order they were added (completion order).
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Op, 0, h.n)
	for _, c := range h.chunks {
		out = append(out, c...)
	}
	return out
}

// Reason returns the text of a record's reason ("" for none).
func (h *History) Reason(op Op) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if int(op.Reason) < len(h.reasons) {
		return h.reasons[op.Reason]
	}
	return ""
}

// history.bin layout (little-endian):
//
//	magic "PAYLABH1" | u32 record size | i64 start (Unix ns) | u64 count | u64 dropped
//	u32 reason count | reasons: u16 length + bytes (reason 0, "", is implied and not stored)
//	count records of opRecordSize bytes, fields in the order of encodeOp.
var historyMagic = [8]byte{'P', 'A', 'Y', 'L', 'A', 'B', 'H', '1'}

// WriteTo writes the history in the history.bin format. Operations added while it runs may
// or may not be included; call it after the run.
func (h *History) WriteTo(w io.Writer) (int64, error) {
	h.mu.Lock()
	n, dropped := h.n, h.dropped
	chunks := make([][]Op, len(h.chunks))
	copy(chunks, h.chunks)
	reasons := append([]string(nil), h.reasons...)
	h.mu.Unlock()

	cw := &countingWriter{w: bufio.NewWriterSize(w, 1<<16)}
	var hdr [8 + 4 + 8 + 8 + 8 + 4]byte
	copy(hdr[:8], historyMagic[:])
	binary.LittleEndian.PutUint32(hdr[8:], opRecordSize)
	binary.LittleEndian.PutUint64(hdr[12:], uint64(h.start.UnixNano()))
	binary.LittleEndian.PutUint64(hdr[20:], uint64(n))
	binary.LittleEndian.PutUint64(hdr[28:], dropped)
	binary.LittleEndian.PutUint32(hdr[36:], uint32(len(reasons)-1))
	cw.Write(hdr[:])
	for _, r := range reasons[1:] {
		var l [2]byte
		binary.LittleEndian.PutUint16(l[:], uint16(len(r)))
		cw.Write(l[:])
		io.WriteString(cw, r)
	}
	var rec [opRecordSize]byte
	written := 0
	for _, c := range chunks {
		for _, op := range c {
			if written == n {
				break
			}
			encodeOp(rec[:], op)
			cw.Write(rec[:])
			written++
		}
	}
	if cw.err == nil {
		cw.err = cw.w.(*bufio.Writer).Flush()
	}
	if cw.err != nil {
		return cw.n, fmt.Errorf("write history: %w", cw.err)
	}
	return cw.n, nil
}

// Save writes the history to path (history.bin in a run directory).
func (h *History) Save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	if _, err := h.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("save history to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save history to %s: %w", path, err)
	}
	return nil
}

// LoadHistory reads a history saved by Save.
func LoadHistory(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	defer f.Close()
	h, err := ReadHistory(f)
	if err != nil {
		return nil, fmt.Errorf("load history from %s: %w", path, err)
	}
	return h, nil
}

// ReadHistory decodes the history.bin format. It checks the header's bounds before allocating
// and fails on a truncated file.
func ReadHistory(r io.Reader) (*History, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var hdr [8 + 4 + 8 + 8 + 8 + 4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("read history header: %w", err)
	}
	if [8]byte(hdr[:8]) != historyMagic {
		return nil, errors.New("read history: not a paylab history file (bad magic)")
	}
	if rs := binary.LittleEndian.Uint32(hdr[8:]); rs != opRecordSize {
		return nil, fmt.Errorf("read history: record size %d, this build reads %d", rs, opRecordSize)
	}
	start := time.Unix(0, int64(binary.LittleEndian.Uint64(hdr[12:])))
	count := binary.LittleEndian.Uint64(hdr[20:])
	dropped := binary.LittleEndian.Uint64(hdr[28:])
	nReasons := binary.LittleEndian.Uint32(hdr[36:])
	if count > MaxHistoryOps {
		return nil, fmt.Errorf("read history: %d records is over the limit of %d", count, MaxHistoryOps)
	}
	if nReasons >= MaxReasons {
		return nil, fmt.Errorf("read history: %d reasons is over the limit of %d", nReasons, MaxReasons)
	}
	h := NewHistory(start, max(int(count), 1))
	h.dropped = dropped
	for i := uint32(0); i < nReasons; i++ {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return nil, fmt.Errorf("read history reason %d: %w", i+1, err)
		}
		b := make([]byte, binary.LittleEndian.Uint16(l[:]))
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("read history reason %d: %w", i+1, err)
		}
		h.byText[string(b)] = uint16(len(h.reasons))
		h.reasons = append(h.reasons, string(b))
	}
	var rec [opRecordSize]byte
	for i := uint64(0); i < count; i++ {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			return nil, fmt.Errorf("read history record %d of %d: %w", i, count, err)
		}
		op := decodeOp(rec[:])
		if !op.Kind.Valid() || int(op.Reason) >= len(h.reasons) {
			return nil, fmt.Errorf("read history record %d: invalid kind %d or reason %d", i, op.Kind, op.Reason)
		}
		c := h.n / historyChunk
		if c == len(h.chunks) {
			h.chunks = append(h.chunks, make([]Op, 0, min(historyChunk, int(count)-h.n)))
		}
		h.chunks[c] = append(h.chunks[c], op)
		h.n++
	}
	return h, nil
}

func encodeOp(b []byte, op Op) {
	le := binary.LittleEndian
	b[0] = byte(op.Type)
	b[1] = op.Region
	le.PutUint64(b[2:], op.Key)
	le.PutUint32(b[10:], op.From)
	le.PutUint32(b[14:], op.To)
	le.PutUint64(b[18:], uint64(op.Amount))
	le.PutUint64(b[26:], op.Seq)
	le.PutUint64(b[34:], uint64(op.Intended))
	le.PutUint64(b[42:], uint64(op.Sent))
	le.PutUint64(b[50:], uint64(op.Done))
	le.PutUint32(b[58:], op.Items)
	le.PutUint16(b[62:], op.Client)
	le.PutUint16(b[64:], op.Reason)
	b[66] = byte(op.Kind)
}

func decodeOp(b []byte) Op {
	le := binary.LittleEndian
	var op Op
	op.Type = OpType(b[0])
	op.Region = b[1]
	op.Key = le.Uint64(b[2:])
	op.From = le.Uint32(b[10:])
	op.To = le.Uint32(b[14:])
	op.Amount = int64(le.Uint64(b[18:]))
	op.Seq = le.Uint64(b[26:])
	op.Intended = time.Duration(le.Uint64(b[34:]))
	op.Sent = time.Duration(le.Uint64(b[42:]))
	op.Done = time.Duration(le.Uint64(b[50:]))
	op.Items = le.Uint32(b[58:])
	op.Client = le.Uint16(b[62:])
	op.Reason = le.Uint16(b[64:])
	op.Kind = outcome.Kind(b[66])
	return op
}

// countingWriter remembers the first error and the bytes written, so a long run of writes needs
// one check at the end.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
