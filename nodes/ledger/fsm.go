package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// The state file's buckets. Keys and values are documented next to their encoders below.
var (
	bucketAccounts  = []byte("accounts")  // id → accountRecord
	bucketTransfers = []byte("transfers") // transfer id → transferRecord (the journal of decided transfers)
	bucketWrites    = []byte("writes")    // index(8) ‖ payment id → writeRecord (journal of blind balance writes)
	bucketFences    = []byte("fences")    // account id → highest fence token seen (8)
	bucketMeta      = []byte("meta")      // keyApplied, keyClean
	keyApplied      = []byte("applied_index")
	keyClean        = []byte("clean_shutdown")
)

// FSMOptions tune the state machine.
type FSMOptions struct {
	// Sync makes every state commit fsync. Off by default: the raft log is the record of truth, and an
	// unclean start rebuilds the state file when it cannot be trusted (see the package comment).
	Sync bool
	// SkipDedupe is the test-only switch Broken.SkipDedupe: ids seen before are applied again.
	SkipDedupe bool
	// DropOnRestore is the test-only switch Broken.DropOnRestore: Restore deletes the journal record of the
	// committed transfer with the highest index (its effect on the balances stays).
	DropOnRestore bool
	// ExportOmitsTransfer is the test-only switch Broken.ExportOmitsTransfer: Export leaves out the
	// committed transfer with the highest index, and its trailer agrees (a buggy exporter, not a cut one).
	ExportOmitsTransfer bool
	// ReplayTwice is the test-only switch Broken.ReplayTwice: a batch of transfers raft hands the state machine
	// again (a replay of entries at or below the stored applied index) is applied again, without its
	// idempotency check, instead of skipped.
	ReplayTwice bool
	// CommitOtherAmount is the test-only switch Broken.CommitOtherAmount: a committed transfer moves (and
	// journals) one minor unit more than was asked.
	CommitOtherAmount bool
	// AllowNegative is the test-only switch Broken.AllowNegative: the insufficient-funds check is skipped.
	AllowNegative bool
	// OnApply, when set, is called after every committed batch with the number of raft entries and of
	// transfers it held. It runs on raft's FSM goroutine and must be quick.
	OnApply func(entries, transfers int)
}

// OpenReport says how the state file was found when the state machine opened it.
type OpenReport struct {
	// CleanShutdown is true when the previous run closed the file cleanly.
	CleanShutdown bool
	// Rebuilt is true when the file was missing, unreadable or failed its check and was started empty; raft
	// must then restore the newest snapshot and replay the log.
	Rebuilt bool
	// Reason says why the file was rebuilt.
	Reason string
	// AppliedIndex is the last raft index whose effects the file holds.
	AppliedIndex uint64
}

// FSM is the ledger's raft state machine, stored in one bbolt file. It implements raft.BatchingFSM.
//
// Apply and ApplyBatch are deterministic: the same entries in the same order produce the same state on every
// replica. They are called from raft's single FSM goroutine; reads (Account, Summary, Export, …) may run
// concurrently with them from any goroutine.
type FSM struct {
	path string
	opts FSMOptions

	mu sync.RWMutex // held for reading by every use of db, for writing while Restore swaps the file
	db *bolt.DB

	applied  atomic.Uint64
	signalMu sync.Mutex
	signal   chan struct{} // closed and replaced after each applied batch; see WaitApplied

	committed, rejected, duplicates, conflicts atomic.Uint64

	names nameCache // account ids interned by the apply path's decoder (raft's FSM goroutine only)
}

var _ raft.BatchingFSM = (*FSM)(nil)

func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:         time.Second,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20,
	}
}

// OpenFSM opens the state file at path, creating it when absent. When the previous run did not shut down
// cleanly, the file is checked; a file that cannot be opened or fails the check is moved aside (suffix
// ".corrupt") and replaced by an empty one, which the report says.
func OpenFSM(path string, opts FSMOptions) (*FSM, OpenReport, error) {
	f := &FSM{path: path, opts: opts, signal: make(chan struct{})}
	var rep OpenReport
	_, statErr := os.Stat(path)
	existed := statErr == nil
	db, err := f.openDB()
	if err == nil && existed {
		rep.CleanShutdown, rep.AppliedIndex, err = readMeta(db)
		if err == nil && !rep.CleanShutdown {
			err = checkDB(db)
		}
		if err != nil {
			db.Close()
			db = nil
		}
	}
	if err != nil {
		if !existed {
			return nil, rep, fmt.Errorf("open state file %s: %w", path, err)
		}
		rep.Rebuilt, rep.Reason, rep.AppliedIndex = true, err.Error(), 0
		if mvErr := os.Rename(path, path+".corrupt"); mvErr != nil {
			return nil, rep, fmt.Errorf("move aside unusable state file %s (%v): %w", path, err, mvErr)
		}
		if db, err = f.openDB(); err != nil {
			return nil, rep, fmt.Errorf("create state file %s: %w", path, err)
		}
	}
	if !existed {
		rep.Rebuilt, rep.Reason = true, "state file missing"
	}
	f.db = db
	if err := f.initialize(); err != nil {
		db.Close()
		return nil, rep, err
	}
	f.applied.Store(rep.AppliedIndex)
	return f, rep, nil
}

func (f *FSM) openDB() (*bolt.DB, error) {
	db, err := bolt.Open(f.path, 0o600, boltOptions())
	if err != nil {
		return nil, err
	}
	db.NoSync = !f.opts.Sync
	return db, nil
}

// initialize creates the buckets and clears the clean-shutdown marker with a synced commit, so that a crash
// from now on is seen as unclean at the next start.
func (f *FSM) initialize() error {
	err := f.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAccounts, bucketTransfers, bucketWrites, bucketFences, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyClean, []byte{0})
	})
	if err == nil {
		err = f.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("initialise state file %s: %w", f.path, err)
	}
	return nil
}

func readMeta(db *bolt.DB) (clean bool, applied uint64, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return errors.New("meta bucket missing")
		}
		if v := m.Get(keyClean); len(v) == 1 && v[0] == 1 {
			clean = true
		}
		if v := m.Get(keyApplied); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("applied index has %d bytes", len(v))
			}
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return clean, applied, err
}

// checkDB runs bbolt's consistency check over every page.
func checkDB(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("state file check: %w", err)
		}
		return nil
	})
}

// Close closes the state file. With clean set it first writes the clean-shutdown marker and syncs, so the
// next start trusts the file without checking it; a crash is modelled by clean=false.
func (f *FSM) Close(clean bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	var err error
	if clean {
		err = f.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyClean, []byte{1}) })
		if err == nil {
			err = f.db.Sync()
		}
	}
	if cerr := f.db.Close(); err == nil {
		err = cerr
	}
	f.db = nil
	if err != nil {
		return fmt.Errorf("close state file %s: %w", f.path, err)
	}
	return nil
}

// AppliedIndex is the last raft index applied to the state.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// appliedSignal returns a channel that is closed after the next applied batch.
func (f *FSM) appliedSignal() <-chan struct{} {
	f.signalMu.Lock()
	defer f.signalMu.Unlock()
	return f.signal
}

func (f *FSM) notifyApplied() {
	f.signalMu.Lock()
	close(f.signal)
	f.signal = make(chan struct{})
	f.signalMu.Unlock()
}

// WaitApplied blocks until the state holds index or the done channel closes; it reports whether it got there.
func (f *FSM) WaitApplied(done <-chan struct{}, index uint64) bool {
	for {
		sig := f.appliedSignal()
		if f.applied.Load() >= index {
			return true
		}
		select {
		case <-sig:
		case <-done:
			return false
		}
	}
}

// Apply applies one log entry. Raft uses ApplyBatch; Apply exists because the interface requires it.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies a run of committed entries in one bbolt transaction, with the applied index stored in
// the same transaction; entries at or below the stored index were applied before and are skipped. It returns
// exactly one response per entry: *TransfersResponse, []AccountResult, BalanceWriteResult, an error for an
// undecodable entry, or nil for skipped and non-command entries.
//
// A failure to commit the transaction is a storage failure the replica cannot recover from in place; it
// panics rather than let this replica's state diverge from its log.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		panic("ledger: ApplyBatch on a closed state machine")
	}
	applied := f.applied.Load()
	last := applied
	transfers := 0
	st := applyState{skipDedupe: f.opts.SkipDedupe, otherAmount: f.opts.CommitOtherAmount, allowNegative: f.opts.AllowNegative}
	err := f.db.Update(func(tx *bolt.Tx) error {
		st.init(tx)
		for i, l := range logs {
			if l.Index <= applied {
				if f.opts.ReplayTwice && l.Type == raft.LogCommand {
					f.replayAgain(&st, l)
				}
				continue
			}
			last = l.Index
			if l.Type != raft.LogCommand {
				continue
			}
			cmd, err := decodeCommandNames(l.Data, &f.names)
			if err != nil {
				out[i] = fmt.Errorf("entry %d: %w", l.Index, err)
				continue
			}
			switch cmd.kind {
			case kindTransfers:
				transfers += len(cmd.transfers)
				out[i] = st.applyTransfers(l.Index, cmd.transfers)
			case kindCreateAccounts:
				out[i] = st.createAccounts(cmd.accounts)
			case kindBalanceWrite:
				out[i] = st.writeBalance(l.Index, cmd.write)
			}
			if st.err != nil {
				return st.err
			}
		}
		st.flushAccounts()
		st.flushTransfers()
		if st.err != nil {
			return st.err
		}
		if last == applied {
			return nil
		}
		return tx.Bucket(bucketMeta).Put(keyApplied, binary.BigEndian.AppendUint64(nil, last))
	})
	if err != nil {
		panic(fmt.Sprintf("ledger: commit state batch ending at index %d to %s: %v", last, f.path, err))
	}
	f.committed.Add(st.committed)
	f.rejected.Add(st.rejected)
	f.duplicates.Add(st.duplicates)
	f.conflicts.Add(st.conflicts)
	if last != applied {
		f.applied.Store(last)
		f.notifyApplied()
	}
	if f.opts.OnApply != nil {
		f.opts.OnApply(len(logs), transfers)
	}
	return out
}

// TransfersResponse is the state machine's answer to one entry of transfers, one result per transfer in
// entry order.
type TransfersResponse struct {
	Results []TransferResult
}

// applyState carries the buckets and an allocation arena through one write transaction. bbolt keeps a
// reference to every key and value until commit, so each Put gets its own slice of the arena.
type applyState struct {
	accounts, transfers, writes, fences *bolt.Bucket
	// Cursors reused for lookups: bucket.Get makes a cursor (and grows its stack) every call, which was
	// half the state machine's allocations; a cursor kept for the transaction reuses its stack.
	accountCur, transferCur *bolt.Cursor
	arena                   []byte
	arenaNext               int // size of the next arena chunk; chunks grow from 4 KiB to 64 KiB
	err                     error
	skipDedupe              bool
	otherAmount             bool
	allowNegative           bool
	// The transaction's new journal records, written to the transfers bucket in key order when it ends
	// (flushTransfers). bbolt splits a node only at commit, so within one transaction a leaf takes every
	// insert into its key range, and an insert in the middle of a node shifts the rest of it (node.put's
	// copy): entries whose ids interleave — concurrent callers' batches, several entries in one apply —
	// cost time quadratic in the transaction's inserts (a third of the batch bench's CPU, docs/PERFORMANCE.md).
	// In key order each insert lands after the previous one. pendingAt finds a pending record by id, for the
	// idempotency check of a later transfer in the same transaction.
	pending   []pendingRecord
	pendingAt map[string]int
	// The transaction's account records by id, read from the file once and written back once, in key order,
	// when it ends (flushAccounts): a bbolt Get and Put each search the B-tree from its root, and an entry
	// touches its hot accounts many times (a third of the batch bench's state-machine time was these searches).
	accts map[string]*txAccount
	// journalMax is the greatest transfer id the journal held when the transaction began: ids are
	// time-ordered (ULIDs), so most new ids are above it and need no search of the journal's pages.
	journalMax []byte

	committed, rejected, duplicates, conflicts uint64
}

func (s *applyState) init(tx *bolt.Tx) {
	s.accounts = tx.Bucket(bucketAccounts)
	s.transfers = tx.Bucket(bucketTransfers)
	s.writes = tx.Bucket(bucketWrites)
	s.fences = tx.Bucket(bucketFences)
	// Transfer ids are time-ordered, so inserts land at the end of the B-tree: fill pages fully.
	s.transfers.FillPercent = 0.9
	s.writes.FillPercent = 0.9
	s.accountCur = s.accounts.Cursor()
	s.transferCur = s.transfers.Cursor()
	if k, _ := s.transferCur.Last(); k != nil {
		s.journalMax = bytes.Clone(k)
	}
	s.arenaNext = 4 << 10
}

// pendingRecord is a journal record waiting for flushTransfers.
type pendingRecord struct {
	id  string
	val []byte
}

// pendingLinear is how many pending records are searched one by one before pendingAt is built.
const pendingLinear = 16

// journalRecord returns the journal record of transfer id: a pending one of this transaction, or the stored
// one, or nil.
func (s *applyState) journalRecord(id string) []byte {
	if s.pendingAt != nil {
		if i, ok := s.pendingAt[id]; ok {
			return s.pending[i].val
		}
	} else {
		for i := len(s.pending) - 1; i >= 0; i-- {
			if s.pending[i].id == id {
				return s.pending[i].val
			}
		}
	}
	if s.journalMax == nil || id > string(s.journalMax) {
		return nil
	}
	return lookup(s.transferCur, keyBytes(id))
}

// addPending queues a journal record; a later record for the same id (the test-only ReplayTwice) replaces
// the earlier one when flushed, as a second Put would.
func (s *applyState) addPending(id string, val []byte) {
	s.pending = append(s.pending, pendingRecord{id: id, val: val})
	switch {
	case s.pendingAt != nil:
		s.pendingAt[id] = len(s.pending) - 1
	case len(s.pending) > pendingLinear:
		s.pendingAt = make(map[string]int, 2*len(s.pending))
		for i, p := range s.pending {
			s.pendingAt[p.id] = i
		}
	}
}

// flushTransfers writes the transaction's journal records in key order (stable, so of two records for one
// id the later is written last and kept).
func (s *applyState) flushTransfers() {
	if !slices.IsSortedFunc(s.pending, comparePending) {
		slices.SortStableFunc(s.pending, comparePending)
	}
	for _, p := range s.pending {
		s.put(s.transfers, p.id, p.val)
	}
	s.pending, s.pendingAt = nil, nil
}

func comparePending(a, b pendingRecord) int { return strings.Compare(a.id, b.id) }

// lookup returns the value stored under key, or nil: bucket.Get through a reused cursor. Seek positions
// the cursor afresh, so the puts made since its last use do not matter.
func lookup(c *bolt.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

func (s *applyState) alloc(n int) []byte {
	if len(s.arena) < n {
		s.arena = make([]byte, max(n, s.arenaNext))
		s.arenaNext = min(2*s.arenaNext, 64<<10)
	}
	b := s.arena[:n:n]
	s.arena = s.arena[n:]
	return b
}

func (s *applyState) put(b *bolt.Bucket, key string, val []byte) {
	if s.err != nil {
		return
	}
	k := s.alloc(len(key))
	copy(k, key)
	if err := b.Put(k, val); err != nil {
		s.err = err
	}
}

// accountRecord: balance(8) version(8) initial(8), big-endian.
type accountRecord struct {
	balance int64
	version uint64
	initial int64
}

func decodeAccount(v []byte) (accountRecord, bool) {
	if len(v) != 24 {
		return accountRecord{}, false
	}
	return accountRecord{
		balance: int64(binary.BigEndian.Uint64(v)),
		version: binary.BigEndian.Uint64(v[8:]),
		initial: int64(binary.BigEndian.Uint64(v[16:])),
	}, true
}

// txAccount is an account as the transaction sees it.
type txAccount struct {
	rec    accountRecord
	exists bool // in the file or created in this transaction
	dirty  bool // changed in this transaction
}

func (s *applyState) account(id string) *txAccount {
	if a := s.accts[id]; a != nil {
		return a
	}
	if s.accts == nil {
		s.accts = make(map[string]*txAccount)
	}
	a := &txAccount{}
	a.rec, a.exists = decodeAccount(lookup(s.accountCur, keyBytes(id)))
	s.accts[id] = a
	return a
}

func (s *applyState) putAccount(id string, rec accountRecord) {
	a := s.account(id)
	a.rec, a.exists, a.dirty = rec, true, true
}

func (s *applyState) getAccount(id string) (accountRecord, bool) {
	a := s.account(id)
	return a.rec, a.exists
}

// flushAccounts writes the accounts the transaction changed, in key order.
func (s *applyState) flushAccounts() {
	ids := make([]string, 0, len(s.accts))
	for id, a := range s.accts {
		if a.dirty {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := s.accts[id]
		v := s.alloc(24)
		binary.BigEndian.PutUint64(v, uint64(a.rec.balance))
		binary.BigEndian.PutUint64(v[8:], a.rec.version)
		binary.BigEndian.PutUint64(v[16:], uint64(a.rec.initial))
		s.put(s.accounts, id, v)
	}
	s.accts = nil
}

// keyBytes views a string as bytes without copying, for bbolt lookups only: Get and Cursor.Seek read the key
// and do not keep it. Keys that are stored go through put, which copies them into the arena.
func keyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// transferRecord: status(1) reason(1) index(8) amount(8) len(from)(1) from len(to)(1) to
// [len(payment)(1) payment]. The payment key is stored only when it is not the transfer id, so the record of
// a healthy transfer is what it was before payment keys existed.
func (s *applyState) putTransfer(t *Transfer, r TransferResult) {
	n := 20 + len(t.From) + len(t.To)
	if !ownPayment(t) {
		n += 1 + len(t.Payment)
	}
	v := s.alloc(n)
	if r.Status == StatusCommitted {
		v[0] = 1
	}
	v[1] = reasonCode(r.Reason)
	binary.BigEndian.PutUint64(v[2:], r.Index)
	binary.BigEndian.PutUint64(v[10:], uint64(t.Amount))
	v[18] = byte(len(t.From))
	copy(v[19:], t.From)
	v[19+len(t.From)] = byte(len(t.To))
	copy(v[20+len(t.From):], t.To)
	if o := 20 + len(t.From) + len(t.To); o < n {
		v[o] = byte(len(t.Payment))
		copy(v[o+1:], t.Payment)
	}
	s.addPending(t.ID, v)
}

// storedTransfer is a decided transfer as the journal holds it.
type storedTransfer struct {
	t Transfer
	r TransferResult
}

func decodeTransferRecord(id string, v []byte) (storedTransfer, bool) {
	if len(v) < 20 {
		return storedTransfer{}, false
	}
	nf := int(v[18])
	if len(v) < 20+nf {
		return storedTransfer{}, false
	}
	nt := int(v[19+nf])
	end := 20 + nf + nt
	if len(v) < end {
		return storedTransfer{}, false
	}
	var payment string
	if len(v) > end {
		np := int(v[end])
		if np == 0 || len(v) != end+1+np {
			return storedTransfer{}, false
		}
		payment = string(v[end+1:])
	}
	st := storedTransfer{
		t: Transfer{ID: id, From: string(v[19 : 19+nf]), To: string(v[20+nf : end]), Amount: int64(binary.BigEndian.Uint64(v[10:])), Payment: payment},
		r: TransferResult{ID: id, Status: StatusRejected, Reason: reasonString(v[1]), Index: binary.BigEndian.Uint64(v[2:])},
	}
	if v[0] == 1 {
		st.r.Status = StatusCommitted
	}
	return st, true
}

func (s *applyState) applyTransfers(index uint64, ts []Transfer) *TransfersResponse {
	resp := &TransfersResponse{Results: make([]TransferResult, len(ts))}
	for i := range ts {
		resp.Results[i] = s.applyTransfer(index, &ts[i])
		if s.err != nil {
			break
		}
	}
	return resp
}

func (s *applyState) applyTransfer(index uint64, t *Transfer) TransferResult {
	if v := s.journalRecord(t.ID); v != nil && !s.skipDedupe {
		prev, ok := decodeTransferRecord(t.ID, v)
		if !ok {
			s.err = fmt.Errorf("transfer record %q is corrupt", t.ID)
			return TransferResult{}
		}
		if prev.t.From != t.From || prev.t.To != t.To || prev.t.Amount != t.Amount || prev.t.PaymentKey() != t.PaymentKey() {
			s.conflicts++
			return TransferResult{ID: t.ID, Status: StatusRejected, Reason: ReasonIDConflict, Index: prev.r.Index, Conflict: true}
		}
		s.duplicates++
		r := prev.r
		r.Duplicate = true
		return r
	}
	r := TransferResult{ID: t.ID, Status: StatusRejected, Index: index}
	from, okFrom := s.getAccount(t.From)
	to, okTo := s.getAccount(t.To)
	switch {
	case t.Validate() != nil:
		r.Reason = ReasonInvalid
	case !okFrom || !okTo:
		r.Reason = ReasonUnknownAccount
	case from.balance < t.Amount && !s.allowNegative:
		r.Reason = ReasonInsufficientFunds
	case to.balance > MaxBalance-t.Amount:
		r.Reason = ReasonOverflow
	case s.otherAmount && (from.balance < t.Amount+1 || to.balance > MaxBalance-t.Amount-1):
		r.Reason = ReasonInsufficientFunds
	default:
		amount := t.Amount
		if s.otherAmount {
			// Test-only (Broken.CommitOtherAmount): move, and journal, one unit more than was asked.
			amount++
			other := *t
			other.Amount = amount
			t = &other
		}
		r.Status = StatusCommitted
		from.balance -= amount
		from.version++
		to.balance += amount
		to.version++
		s.putAccount(t.From, from)
		s.putAccount(t.To, to)
	}
	if r.Status == StatusCommitted {
		s.committed++
	} else {
		s.rejected++
	}
	s.putTransfer(t, r)
	return r
}

func (s *applyState) createAccounts(as []Account) []AccountResult {
	out := make([]AccountResult, len(as))
	for i, a := range as {
		out[i].ID = a.ID
		if a.Validate() != nil {
			continue
		}
		if _, ok := s.getAccount(a.ID); ok {
			out[i].Exists = true
			continue
		}
		s.putAccount(a.ID, accountRecord{balance: a.Balance, initial: a.Balance})
		out[i].Created = true
	}
	return out
}

// writeRecord: account len(1) account old(8) new(8) fence(8) oldVersion(8) [readBalance(8) readVersion(8)].
// oldVersion is the account's version just before the write; the read part, present when the writer said
// what it read, lets a checker see a stale overwrite (read version ≠ old version) from the journal alone.
// Records written before versions were kept end after fence.
func (s *applyState) writeBalance(index uint64, w BalanceWrite) BalanceWriteResult {
	r := BalanceWriteResult{Account: w.Account, Index: index}
	acc, ok := s.getAccount(w.Account)
	switch {
	case w.Validate() != nil:
		r.Reason = ReasonInvalid
		return r
	case !ok:
		r.Reason = ReasonUnknownAccount
		return r
	}
	r.Old = acc.balance
	oldVersion := acc.version
	if w.Fence != 0 {
		var highest uint64
		if v := s.fences.Get([]byte(w.Account)); len(v) == 8 {
			highest = binary.BigEndian.Uint64(v)
		}
		if w.Fence < highest {
			r.Reason = "stale_fence"
			return r
		}
		s.put(s.fences, w.Account, binary.BigEndian.AppendUint64(s.alloc(8)[:0], w.Fence))
	}
	acc.balance = w.Balance
	acc.version++
	s.putAccount(w.Account, acc)
	n := 1 + len(w.Account) + 32
	if w.HasRead {
		n += 16
	}
	v := s.alloc(n)
	v[0] = byte(len(w.Account))
	copy(v[1:], w.Account)
	o := 1 + len(w.Account)
	binary.BigEndian.PutUint64(v[o:], uint64(r.Old))
	binary.BigEndian.PutUint64(v[o+8:], uint64(w.Balance))
	binary.BigEndian.PutUint64(v[o+16:], w.Fence)
	binary.BigEndian.PutUint64(v[o+24:], oldVersion)
	if w.HasRead {
		binary.BigEndian.PutUint64(v[o+32:], uint64(w.ReadBalance))
		binary.BigEndian.PutUint64(v[o+40:], w.ReadVersion)
	}
	key := string(binary.BigEndian.AppendUint64(nil, index)) + w.Payment
	s.put(s.writes, key, v)
	r.Applied, r.New = true, w.Balance
	return r
}

// view runs fn in a read transaction on the current state file.
func (f *FSM) view(fn func(tx *bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return f.db.View(fn)
}

// Account returns one account's state from this replica, or ErrNotFound.
func (f *FSM) Account(id string) (AccountState, error) {
	var a AccountState
	err := f.view(func(tx *bolt.Tx) error {
		rec, ok := decodeAccount(tx.Bucket(bucketAccounts).Get([]byte(id)))
		if !ok {
			return ErrNotFound
		}
		a = AccountState{ID: id, Balance: rec.balance, Version: rec.version, Initial: rec.initial}
		return nil
	})
	return a, err
}

// LookupTransfer returns a decided transfer and its result, or ErrNotFound.
func (f *FSM) LookupTransfer(id string) (Transfer, TransferResult, error) {
	var st storedTransfer
	err := f.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTransfers).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var ok bool
		if st, ok = decodeTransferRecord(id, v); !ok {
			return fmt.Errorf("transfer record %q is corrupt", id)
		}
		return nil
	})
	return st.t, st.r, err
}

// StateSummary identifies a replica's state for convergence checks.
type StateSummary struct {
	// Hash is a SHA-256 over every account, transfer, balance write and fence, in key order.
	Hash         string `json:"state_hash"`
	AppliedIndex uint64 `json:"applied_index"`
	Accounts     int    `json:"accounts"`
	Transfers    int    `json:"transfers"`
	TotalBalance int64  `json:"total_balance"`
}

// Summary hashes the replica's state. Two replicas at the same applied index have equal hashes.
func (f *FSM) Summary() (StateSummary, error) {
	var s StateSummary
	err := f.view(func(tx *bolt.Tx) error {
		h := sha256.New()
		var lenBuf [binary.MaxVarintLen64]byte
		write := func(b []byte) {
			n := binary.PutUvarint(lenBuf[:], uint64(len(b)))
			h.Write(lenBuf[:n])
			h.Write(b)
		}
		for _, name := range [][]byte{bucketAccounts, bucketTransfers, bucketWrites, bucketFences} {
			write(name)
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				write(k)
				write(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		s.Hash = hex.EncodeToString(h.Sum(nil))
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			s.AppliedIndex = binary.BigEndian.Uint64(v)
		}
		s.Accounts = tx.Bucket(bucketAccounts).Stats().KeyN
		s.Transfers = tx.Bucket(bucketTransfers).Stats().KeyN
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			rec, _ := decodeAccount(v)
			s.TotalBalance += rec.balance
			return nil
		})
	})
	return s, err
}

// Snapshot opens a read transaction at the current applied index; the snapshot streams the bbolt file from
// it in Persist, so Snapshot itself returns at once and applies continue meanwhile.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot of %s: %w", f.path, err)
	}
	return &fsmSnapshot{tx: tx}, nil
}

type fsmSnapshot struct {
	tx   *bolt.Tx
	once sync.Once
}

// Persist writes the whole state file, as of the snapshot's transaction, to the sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

// Release ends the snapshot's read transaction.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() { _ = s.tx.Rollback() })
}

// Restore replaces the whole state with a snapshot: the stream is written to a temporary file, checked,
// fsynced and renamed over the state file, which is then reopened. Everything the old file held is discarded.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.path + ".restore"
	if err := writeSynced(tmp, rc); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore snapshot into %s: %w", tmp, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db != nil {
		if err := f.db.Close(); err != nil {
			return fmt.Errorf("restore snapshot: close %s: %w", f.path, err)
		}
		f.db = nil
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("restore snapshot: rename %s: %w", tmp, err)
	}
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	db, err := f.openDB()
	if err != nil {
		return fmt.Errorf("restore snapshot: reopen %s: %w", f.path, err)
	}
	_, applied, err := readMeta(db)
	if err == nil {
		err = checkDB(db)
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("restore snapshot: %s: %w", f.path, err)
	}
	f.db = db
	if err := f.initialize(); err != nil {
		return err
	}
	if f.opts.DropOnRestore {
		if err := db.Update(func(tx *bolt.Tx) error {
			if id := lastCommitted(tx); id != nil {
				return tx.Bucket(bucketTransfers).Delete(id)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("restore snapshot: %w", err)
		}
	}
	f.applied.Store(applied)
	f.notifyApplied()
	return nil
}

func writeSynced(path string, r io.Reader) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lastCommitted returns the id of the committed transfer with the highest index, nil when there is none
// (for the test-only switches DropOnRestore and ExportOmitsTransfer).
func lastCommitted(tx *bolt.Tx) []byte {
	var last []byte
	var at uint64
	_ = tx.Bucket(bucketTransfers).ForEach(func(k, v []byte) error {
		if st, ok := decodeTransferRecord(string(k), v); ok && st.r.Status == StatusCommitted && st.r.Index >= at {
			last, at = append(last[:0], k...), st.r.Index
		}
		return nil
	})
	return last
}

// replayAgain applies the transfers of an entry already applied once more, bypassing their idempotency
// check (the test-only switch ReplayTwice).
func (f *FSM) replayAgain(st *applyState, l *raft.Log) {
	cmd, err := decodeCommandNames(l.Data, &f.names)
	if err != nil || cmd.kind != kindTransfers {
		return
	}
	st.skipDedupe = true
	st.applyTransfers(l.Index, cmd.transfers)
	st.skipDedupe = f.opts.SkipDedupe
}
