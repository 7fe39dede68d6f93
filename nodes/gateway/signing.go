package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"sync"
	"time"

	"paylab/nodes/ledger"
)

// Signature headers. Every signed request carries all three.
const (
	// HeaderTimestamp is the signing time in Unix milliseconds.
	HeaderTimestamp = "X-Paylab-Timestamp"
	// HeaderNonce is a single-use value, 1..64 characters of [A-Za-z0-9_.-].
	HeaderNonce = "X-Paylab-Nonce"
	// HeaderSignature is the lowercase hex HMAC-SHA256 of the canonical request (see Signer).
	HeaderSignature = "X-Paylab-Signature"
)

// Signer signs gateway requests with a per-run key. It is the one place the signature is defined: the
// gateway verifies with the same code, and the load generator and tests sign with it. It is safe for
// concurrent use.
//
// The signature is hex(HMAC-SHA256(key, canonical)) where canonical is the lines
//
//	paylab-v1
//	<METHOD>
//	<request URI: escaped path and query, as in url.URL.RequestURI>
//	<timestamp, Unix ms, decimal>
//	<nonce>
//	<hex SHA-256 of the body>
//
// joined by "\n". Each signed request must use a new nonce: a retry of a payment is signed again (new
// nonce, new timestamp) and keeps the transfer's id, which is what makes it idempotent at the ledger.
type Signer struct {
	key  []byte
	macs sync.Pool // of *macState
}

// macState is a reusable HMAC-SHA256 keyed with the signer's key and a buffer for the canonical request.
type macState struct {
	h   hash.Hash
	buf []byte
}

// NewSigner returns a signer for key, which must be at least MinKeyBytes long.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("signing key has %d bytes, want at least %d", len(key), MinKeyBytes)
	}
	s := &Signer{key: append([]byte(nil), key...)}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, s.key), buf: make([]byte, 0, 256)} }
	return s, nil
}

// Sign sets the timestamp, nonce and signature headers on req for body (the exact bytes req will send; nil
// for none) at time now. An empty nonce gets a new random one (128 bits, hex).
func (s *Signer) Sign(req *http.Request, body []byte, now time.Time, nonce string) {
	if nonce == "" {
		nonce = NewNonce()
	}
	ts := now.UnixMilli()
	var sum [sha256.Size]byte
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, hex.EncodeToString(s.mac(sum[:0], req.Method, req.URL.RequestURI(), body, ts, nonce)))
}

// AppendSignatureHeaders appends the timestamp, nonce and signature header lines ("Name: value\r\n") for a
// request to dst, signed at now with a new random nonce, and returns the extended slice. The ledger client's
// own transport calls it for every attempt (it implements client.RequestSigner).
func (s *Signer) AppendSignatureHeaders(dst []byte, method, requestURI string, body []byte, now time.Time) []byte {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (it crashes the program instead)
	var nonce [32]byte
	hex.Encode(nonce[:], raw[:])
	ts := now.UnixMilli()
	var sum [sha256.Size]byte
	mac := s.mac(sum[:0], method, requestURI, body, ts, string(nonce[:]))
	dst = append(dst, HeaderTimestamp+": "...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, "\r\n"+HeaderNonce+": "...)
	dst = append(dst, nonce[:]...)
	dst = append(dst, "\r\n"+HeaderSignature+": "...)
	dst = hex.AppendEncode(dst, mac)
	return append(dst, "\r\n"...)
}

// NewNonce returns a random 128-bit nonce in hex.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b[:])
}

// mac appends the request's HMAC-SHA256 (raw bytes) to dst.
func (s *Signer) mac(dst []byte, method, uri string, body []byte, ts int64, nonce string) []byte {
	bodySum := sha256.Sum256(body)
	st := s.macs.Get().(*macState)
	c := append(st.buf[:0], "paylab-v1\n"...)
	c = append(c, method...)
	c = append(c, '\n')
	c = append(c, uri...)
	c = append(c, '\n')
	c = strconv.AppendInt(c, ts, 10)
	c = append(c, '\n')
	c = append(c, nonce...)
	c = append(c, '\n')
	c = hex.AppendEncode(c, bodySum[:])
	st.h.Reset()
	st.h.Write(c)
	dst = st.h.Sum(dst)
	if cap(c) <= 4096 {
		st.buf = c[:0]
	}
	s.macs.Put(st)
	return dst
}

// Reasons a signed request is refused with 401; they are the "error" field of the answer and the "reason"
// label of paylab_gateway_signature_rejections_total.
const (
	RejectMissingSignature = "missing_signature"
	RejectBadTimestamp     = "bad_timestamp"
	RejectStaleTimestamp   = "stale_timestamp"
	RejectBadNonce         = "bad_nonce"
	RejectBadSignature     = "bad_signature"
	RejectReplayedNonce    = "replayed_nonce"
)

// SignatureError is why a request's signature was refused.
type SignatureError struct {
	// Reason is one of the Reject… constants.
	Reason string
	Detail string
}

// Error returns "reason: detail".
func (e *SignatureError) Error() string { return e.Reason + ": " + e.Detail }

// signedRequest is what verify extracts from a request's headers once its signature checks out.
type signedRequest struct {
	nonce string
	// expires is when the request turns stale; the nonce must be remembered until then.
	expires time.Time
}

// verify checks headers, timestamp skew and signature, cheapest first. It does not look at the nonce store:
// a request is remembered only once it is proven authentic, so forged requests cannot fill the store.
func (s *Signer) verify(r *http.Request, body []byte, now time.Time, maxSkew time.Duration) (signedRequest, error) {
	tsText, nonce, sigText := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), r.Header.Get(HeaderSignature)
	if tsText == "" || nonce == "" || sigText == "" {
		return signedRequest{}, &SignatureError{RejectMissingSignature, fmt.Sprintf("headers %s, %s and %s are required", HeaderTimestamp, HeaderNonce, HeaderSignature)}
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return signedRequest{}, &SignatureError{RejectBadTimestamp, fmt.Sprintf("%s %q is not Unix milliseconds", HeaderTimestamp, tsText)}
	}
	signedAt := time.UnixMilli(ts)
	if skew := now.Sub(signedAt); skew > maxSkew || skew < -maxSkew {
		return signedRequest{}, &SignatureError{RejectStaleTimestamp, fmt.Sprintf("timestamp is %v from the gateway's clock; at most %v is accepted", skew.Round(time.Millisecond), maxSkew)}
	}
	if !ledger.ValidID(nonce) {
		return signedRequest{}, &SignatureError{RejectBadNonce, fmt.Sprintf("%s must match [A-Za-z0-9_.-]{1,64}", HeaderNonce)}
	}
	var sig, want [sha256.Size]byte
	valid := len(sigText) == 2*sha256.Size
	if valid {
		_, err := hex.Decode(sig[:], []byte(sigText))
		valid = err == nil
	}
	if !valid || !hmac.Equal(sig[:], s.mac(want[:0], r.Method, r.URL.RequestURI(), body, ts, nonce)) {
		return signedRequest{}, &SignatureError{RejectBadSignature, "signature does not match the request"}
	}
	return signedRequest{nonce: nonce, expires: signedAt.Add(maxSkew)}, nil
}
