package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// serve runs handler on a loopback listener and counts the connections the client opened.
func serve(t *testing.T, handler http.HandlerFunc) (url string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	srv := &http.Server{Handler: handler, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), conns
}

// TestOwnTransportReusesConnectionsAndReadsEveryBodyForm answers with a Content-Length body, a chunked body
// and "Connection: close" in turn: every answer is read whole, and only the close costs a new connection.
func TestOwnTransportReusesConnectionsAndReadsEveryBodyForm(t *testing.T) {
	var n atomic.Int64
	url, conns := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"from":"a"`) {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		id := fmt.Sprintf("t-%d", n.Add(1))
		answer := `{"id":"` + id + `","status":"committed","index":7}`
		switch n.Load() % 3 {
		case 0:
			w.Header().Set("Connection", "close")
		case 1:
			w.(http.Flusher).Flush() // headers out before the body: chunked encoding
		}
		io.WriteString(w, answer)
	})
	cl, err := client.New(client.DefaultConfig(map[string]string{"n1": url}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 1; i <= 9; i++ {
		r := cl.Transfer(context.Background(), ledger.Transfer{From: "a", To: "b", Amount: 1})
		if r.Outcome != outcome.OK || r.Index != 7 {
			t.Fatalf("transfer %d: %s %+v %v", i, r.Outcome, r.TransferResult, r.Err)
		}
	}
	if got := conns.Load(); got != 3 { // the first, then one after the closes of answers 3 and 6 (9 is the last)
		t.Fatalf("%d connections for 9 requests with 3 closes, want 3", got)
	}
}

// TestOwnTransportBoundsConnectionsPerNode holds every request in the handler until all that fit are in:
// no more than MaxConnsPerNode connections are opened, and the rest wait for one.
func TestOwnTransportBoundsConnectionsPerNode(t *testing.T) {
	const max, calls = 3, 12
	arrived := make(chan struct{}, calls)
	release := make(chan struct{})
	url, conns := serve(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, `{"id":"x","status":"committed","index":1}`)
	})
	cfg := client.DefaultConfig(map[string]string{"n1": url})
	cfg.MaxConnsPerNode = max
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			if r := cl.Transfer(context.Background(), ledger.Transfer{From: "a", To: "b", Amount: 1}); r.Outcome != outcome.OK {
				t.Errorf("%s %v", r.Outcome, r.Err)
			}
		})
	}
	for range max {
		<-arrived
	}
	if got := conns.Load(); got != max {
		t.Fatalf("%d connections open with %d requests waiting, want the bound %d", got, calls, max)
	}
	close(release)
	wg.Wait()
	if got := conns.Load(); got != max {
		t.Fatalf("%d connections in all, want %d", got, max)
	}
}

// TestOwnTransportCancelEndsAStuckRequestAsUnknown cancels a transfer whose request the server holds: the
// call returns, and as the request was sent it may have applied, so the outcome is Unknown.
func TestOwnTransportCancelEndsAStuckRequestAsUnknown(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	url, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	})
	defer close(release)
	cfg := client.DefaultConfig(map[string]string{"n1": url})
	cfg.AttemptTimeout, cfg.Deadline = time.Hour, time.Hour
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	r := cl.Transfer(ctx, ledger.Transfer{From: "a", To: "b", Amount: 1})
	if r.Outcome != outcome.Unknown || !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("cancelled while the server held it: %s %v, want unknown (context canceled)", r.Outcome, r.Err)
	}
}

type headerSigner struct{ calls atomic.Int64 }

func (s *headerSigner) AppendSignatureHeaders(dst []byte, method, uri string, body []byte, now time.Time) []byte {
	return fmt.Appendf(dst, "X-Test-Sig: %s %s %d %d\r\n", method, uri, len(body), s.calls.Add(1))
}

// TestOwnTransportSignsEveryAttempt checks that each attempt carries the signer's headers, made afresh.
func TestOwnTransportSignsEveryAttempt(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	url, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Test-Sig"))
		first := len(seen) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable) // retried at the same (only) node
			io.WriteString(w, `{"error":"not_leader"}`)
			return
		}
		io.WriteString(w, `{"id":"x","status":"committed","index":1}`)
	})
	cfg := client.DefaultConfig(map[string]string{"n1": url})
	cfg.Signer, cfg.Backoff = &headerSigner{}, time.Millisecond
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if r := cl.Transfer(context.Background(), ledger.Transfer{ID: "x", From: "a", To: "b", Amount: 1}); r.Outcome != outcome.OK {
		t.Fatalf("%s %v", r.Outcome, r.Err)
	}
	want := []string{"POST /v1/transfers 41 1", "POST /v1/transfers 41 2"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("signature headers %q, want %q", seen, want)
	}
}
