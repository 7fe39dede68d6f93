package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SigningTransport is an http.RoundTripper that signs every request it sends with Signer: a fresh nonce and
// timestamp per attempt, so a client's retry is a new signed request carrying the same transfer id. The
// lab's client populations and `paylab load --sign-key` put the ledger client on top of it to talk to a
// gateway.
type SigningTransport struct {
	// Base sends the signed requests; nil means http.DefaultTransport.
	Base   http.RoundTripper
	Signer *Signer
}

// RoundTrip implements http.RoundTripper.
func (s *SigningTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sign request: read body: %w", err)
		}
		body = b
	}
	r := req.Clone(req.Context())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	s.Signer.Sign(r, body, time.Now(), "")
	base := s.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
