package gateway

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

var testKey = []byte("0123456789abcdef0123456789abcdef")

func mustSign(t *testing.T, s *Signer, method, url string, body []byte, at time.Time, nonce string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Sign(req, body, at, nonce)
	return req
}

func TestSignatureCoversMethodPathQueryBodyTimestampAndNonce(t *testing.T) {
	s, err := NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	body := []byte(`{"id":"t-1","from":"a","to":"b","amount":5}`)
	good := func() *http.Request {
		return mustSign(t, s, "POST", "http://127.0.0.1:1/v1/transfers?x=1", body, now, "n-1")
	}
	if _, err := s.verify(good(), body, now, 30*time.Second); err != nil {
		t.Fatalf("verify of a good request: %v", err)
	}
	other, _ := NewSigner([]byte("another-key-of-32-bytes-xxxxxxxx"))
	cases := []struct {
		name   string
		tamper func(r *http.Request) []byte
		want   string
	}{
		{"body", func(r *http.Request) []byte { return []byte(`{"id":"t-1","from":"a","to":"b","amount":6}`) }, RejectBadSignature},
		{"method", func(r *http.Request) []byte { r.Method = "PUT"; return body }, RejectBadSignature},
		{"path", func(r *http.Request) []byte { r.URL.Path = "/v1/accounts"; return body }, RejectBadSignature},
		{"query", func(r *http.Request) []byte { r.URL.RawQuery = "x=2"; return body }, RejectBadSignature},
		{"nonce", func(r *http.Request) []byte { r.Header.Set(HeaderNonce, "n-2"); return body }, RejectBadSignature},
		{"timestamp", func(r *http.Request) []byte { r.Header.Set(HeaderTimestamp, "1700000000001"); return body }, RejectBadSignature},
		{"key", func(r *http.Request) []byte { other.Sign(r, body, now, "n-1"); return body }, RejectBadSignature},
		{"signature not hex", func(r *http.Request) []byte { r.Header.Set(HeaderSignature, "zz"); return body }, RejectBadSignature},
		{"no signature", func(r *http.Request) []byte { r.Header.Del(HeaderSignature); return body }, RejectMissingSignature},
		{"timestamp not a number", func(r *http.Request) []byte { r.Header.Set(HeaderTimestamp, "soon"); return body }, RejectBadTimestamp},
		{"nonce with a space", func(r *http.Request) []byte { r.Header.Set(HeaderNonce, "a b"); return body }, RejectBadNonce},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			b := c.tamper(r)
			_, err := s.verify(r, b, now, 30*time.Second)
			var se *SignatureError
			if !errors.As(err, &se) || se.Reason != c.want {
				t.Fatalf("verify = %v, want %s", err, c.want)
			}
		})
	}
}

func TestStaleTimestampEitherWay(t *testing.T) {
	s, _ := NewSigner(testKey)
	now := time.UnixMilli(1_700_000_000_000)
	for _, off := range []time.Duration{-31 * time.Second, 31 * time.Second} {
		r := mustSign(t, s, "GET", "http://127.0.0.1:1/v1/accounts/a", nil, now.Add(off), "")
		_, err := s.verify(r, nil, now, 30*time.Second)
		var se *SignatureError
		if !errors.As(err, &se) || se.Reason != RejectStaleTimestamp {
			t.Errorf("signed %v from now: verify = %v, want %s", off, err, RejectStaleTimestamp)
		}
	}
	r := mustSign(t, s, "GET", "http://127.0.0.1:1/v1/accounts/a", nil, now.Add(-29*time.Second), "")
	sr, err := s.verify(r, nil, now, 30*time.Second)
	if err != nil {
		t.Fatalf("29 s old: %v", err)
	}
	if want := now.Add(time.Second); !sr.expires.Equal(want) {
		t.Errorf("nonce expiry = %v, want signing time + skew = %v", sr.expires, want)
	}
}

func TestNewSignerRefusesShortKeys(t *testing.T) {
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Fatal("NewSigner accepted a 5-byte key")
	}
}

func TestMemoryNonceStoreIsBoundedAndExpires(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemoryNonceStore(2)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	remember := func(n string, now, exp time.Time) (bool, error) { return s.Remember(ctx, n, now, exp) }
	if fresh, err := remember("a", t0, t0.Add(10*time.Second)); !fresh || err != nil {
		t.Fatalf("first a: fresh=%v err=%v", fresh, err)
	}
	if fresh, err := remember("a", t0.Add(5*time.Second), t0.Add(20*time.Second)); fresh || err != nil {
		t.Fatalf("replayed a: fresh=%v err=%v, want a replay", fresh, err)
	}
	if fresh, err := remember("b", t0, t0.Add(20*time.Second)); !fresh || err != nil {
		t.Fatalf("b: fresh=%v err=%v", fresh, err)
	}
	// Full of live nonces: refuse rather than forget one.
	if _, err := remember("c", t0.Add(time.Second), t0.Add(30*time.Second)); !errors.Is(err, ErrNonceStoreFull) {
		t.Fatalf("c into a full store: err=%v, want ErrNonceStoreFull", err)
	}
	// Once a expires its slot is free, and a may be used again.
	if fresh, err := remember("c", t0.Add(10*time.Second), t0.Add(30*time.Second)); !fresh || err != nil {
		t.Fatalf("c after a expired: fresh=%v err=%v", fresh, err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	if fresh, err := remember("b", t0.Add(20*time.Second), t0.Add(40*time.Second)); !fresh || err != nil {
		t.Fatalf("b after it expired: fresh=%v err=%v", fresh, err)
	}
}

// TestAppendedSignatureHeadersVerify signs the way the ledger client's own transport does (header lines
// appended to the request it writes) and checks that the gateway accepts the request and spends its nonce.
func TestAppendedSignatureHeadersVerify(t *testing.T) {
	s, err := NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	body := []byte(`{"id":"t-1","from":"a","to":"b","amount":5}`)
	wire := "POST /v1/transfers?x=1 HTTP/1.1\r\nHost: pay.lab\r\n" +
		string(s.AppendSignatureHeaders(nil, "POST", "/v1/transfers?x=1", body, now)) +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire)))
	if err != nil {
		t.Fatal(err)
	}
	sr, err := s.verify(req, body, now, 30*time.Second)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(sr.nonce) != 32 {
		t.Fatalf("nonce %q, want 128 bits in hex", sr.nonce)
	}
	again := s.AppendSignatureHeaders(nil, "POST", "/v1/transfers?x=1", body, now)
	if strings.Contains(string(again), sr.nonce) {
		t.Fatal("two signatures share a nonce")
	}
}
