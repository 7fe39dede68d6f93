package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"paylab/outcome"
	"strconv"
	"strings"
	"time"
)

// HTTPTarget is any HTTP endpoint, driven with one request per operation: Method URL [Body]. A 2xx answer
// is OK, 4xx rejected, 5xx and transport errors failed, a timeout unknown.
type HTTPTarget struct {
	Method, URL string
	// Body, when set, is sent with every request as Content-Type: application/json.
	Body string
	// DialTimeout bounds opening one connection.
	DialTimeout time.Duration
	// MaxIdleConns is how many connections are kept open between requests (the workers already bound
	// how many requests, and so connections, are in flight).
	MaxIdleConns int
}

// Op returns the operation that sends one request, and a function that closes the connections left
// open. Errors: URL is not an absolute http(s) URL.
func (t HTTPTarget) Op() (OpFunc, func(), error) {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("%q is not an http(s) URL", t.URL)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: t.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        t.MaxIdleConns,
		MaxIdleConnsPerHost: t.MaxIdleConns,
		// No MaxConnsPerHost: the workers already bound concurrent requests (and so
		// connections), and the transport's per-host accounting costs CPU.
		IdleConnTimeout: 90 * time.Second,
	}
	c := &http.Client{Transport: tr}
	op := func(ctx context.Context, seq uint64, worker int) Outcome {
		var rd io.Reader
		if t.Body != "" {
			rd = strings.NewReader(t.Body)
		}
		req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, rd)
		if err != nil {
			return Outcome{Kind: outcome.Failed, Reason: "bad request"}
		}
		if t.Body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return Outcome{Kind: outcome.Unknown, Reason: "timeout"}
			}
			return Outcome{Kind: outcome.Failed, Reason: "transport error"}
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return httpOutcome(resp.StatusCode)
	}
	return op, tr.CloseIdleConnections, nil
}

// httpOutcome classifies an HTTP status.
func httpOutcome(code int) Outcome {
	switch {
	case code < 300:
		return Outcome{Kind: outcome.OK}
	case code < 500:
		return Outcome{Kind: outcome.Rejected, Reason: "http " + strconv.Itoa(code)}
	}
	return Outcome{Kind: outcome.Failed, Reason: "http " + strconv.Itoa(code)}
}
