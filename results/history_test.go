package results

import (
	"bytes"
	"fmt"
	"path/filepath"
	"paylab/outcome"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestHistoryRoundTripsToDisk(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	h := NewHistory(start, 1000)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				seq := uint64(w*1000 + i)
				op := Op{
					OpDetail: OpDetail{Type: OpTransfer, Region: uint8(w), Key: seq / 2, From: 1, To: 2, Amount: -5},
					Seq:      seq, Intended: time.Duration(seq), Sent: time.Duration(seq) + 3, Done: time.Duration(seq) + time.Second,
					Items: 1, Client: uint16(w), Kind: outcome.Kind(i % 4),
				}
				reason := ""
				if op.Kind == outcome.Rejected {
					reason = fmt.Sprintf("reason-%d", i%3)
				}
				h.Add(op, reason)
			}
		})
	}
	wg.Wait()
	path := filepath.Join(t.TempDir(), "history.bin")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Start().Equal(start) || got.Len() != 800 {
		t.Fatalf("loaded start %v len %d, want %v and 800", got.Start(), got.Len(), start)
	}
	if !reflect.DeepEqual(got.Ops(), h.Ops()) {
		t.Fatal("loaded records differ from the saved ones")
	}
	rejected := 0
	for _, op := range got.Ops() {
		if op.Kind == outcome.Rejected {
			rejected++
			if r := got.Reason(op); r != h.Reason(op) || r == "" {
				t.Fatalf("reason of op %d = %q, want %q", op.Seq, r, h.Reason(op))
			}
		}
	}
	if rejected != 200 {
		t.Errorf("%d rejected ops after the round trip, want 200", rejected)
	}
}

func TestHistoryIsBoundedAndCountsWhatItDrops(t *testing.T) {
	h := NewHistory(time.Now(), 3)
	for i := range 5 {
		h.Add(Op{Seq: uint64(i)}, "")
	}
	if h.Len() != 3 || h.Dropped() != 2 {
		t.Fatalf("len %d dropped %d, want 3 and 2", h.Len(), h.Dropped())
	}
	for i := range MaxReasons + 10 {
		h.internLocked(fmt.Sprint("r", i))
	}
	if len(h.reasons) > MaxReasons {
		t.Fatalf("reason table grew to %d, limit %d", len(h.reasons), MaxReasons)
	}
}

func TestReadHistoryRejectsDamage(t *testing.T) {
	h := NewHistory(time.Now(), 10)
	h.Add(Op{Seq: 1, Kind: outcome.OK}, "")
	h.Add(Op{Seq: 2, Kind: outcome.Rejected}, "no")
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if _, err := ReadHistory(bytes.NewReader(b[:len(b)-1])); err == nil {
		t.Error("a truncated history was accepted")
	}
	bad := bytes.Clone(b)
	bad[0] = 'X'
	if _, err := ReadHistory(bytes.NewReader(bad)); err == nil {
		t.Error("a file with a bad magic was accepted")
	}
	bad = bytes.Clone(b)
	bad[len(bad)-1] = 9 // kind of the last record
	if _, err := ReadHistory(bytes.NewReader(bad)); err == nil {
		t.Error("a record with an invalid kind was accepted")
	}
}
