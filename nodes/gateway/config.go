package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
	"unicode"

	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
)

// Mode selects how a gateway mechanism (cache, lock, idempotency) behaves: "off" leaves it to the ledger
// alone, "safe" is what a careful team ships, "naive" the pattern payment teams write first (each naive mode
// has a library scenario whose checkers catch it). The names match regions.Topology.Gateways.
type Mode string

// Modes.
const (
	ModeOff   Mode = "off"
	ModeSafe  Mode = "safe"
	ModeNaive Mode = "naive"
)

// Validate accepts "" (off), off, safe and naive.
func (m Mode) Validate() error {
	switch m {
	case "", ModeOff, ModeSafe, ModeNaive:
		return nil
	}
	return fmt.Errorf("%q must be %q, %q or %q", m, ModeOff, ModeSafe, ModeNaive)
}

// On says whether the mechanism runs (safe or naive).
func (m Mode) On() bool { return m == ModeSafe || m == ModeNaive }

// Config configures one gateway. Start from DefaultConfig, then set ID, Region, Ledger.Nodes and SigningKey.
type Config struct {
	// ID names the gateway in status, metrics and events (the lab uses regions' node ids, e.g.
	// "gateway:us-east/a"). 1..128 printable characters, no spaces.
	ID string
	// Region is the region this gateway serves (same character rules as ID).
	Region string
	// Addr is the address the HTTP API listens on. It must be an IPv4 address in 127.0.0.0/8 with a port:
	// "127.0.0.1:0" picks a free port; the lab gives each region's entry point its own "127.0.1.N:port".
	Addr string

	// Ledger configures the ledger client the gateway forwards through (leader tracking, same-id retries).
	// Ledger.Nodes must be set; the lab points it at the gateway→ledger proxies.
	Ledger client.Config

	// RequireSignature makes every payment route (/v1/transfers, /v1/accounts…) demand a valid HMAC
	// signature, fresh timestamp and unused nonce (see Signer). Off only for raw ledger-vs-gateway comparisons.
	RequireSignature bool
	// SigningKey is the per-run HMAC-SHA256 key, at least MinKeyBytes long when RequireSignature is set.
	SigningKey []byte
	// MaxSkew is how far a request's timestamp may be from the gateway's clock, either way, before it is
	// refused as stale. A nonce is remembered until its timestamp plus MaxSkew, after which it is stale anyway.
	MaxSkew time.Duration
	// MaxNonces bounds the default in-memory nonce store. When it is full of unexpired nonces the gateway
	// refuses signed requests with 503 rather than forget a nonce and let a replay through. It must cover
	// the request rate × 2·MaxSkew (2,000/s × 60 s = 120,000).
	MaxNonces int

	// Breaker configures the circuit breaker toward the ledger.
	Breaker BreakerConfig
	// OnBreakerChange, when set, is called on every breaker transition, in order, with the breaker locked:
	// it must return quickly and must not call back into the gateway (the lab appends an event and returns).
	OnBreakerChange func(BreakerTransition)

	// HealthTimeout bounds one /healthz probe of the ledger (all its status calls together).
	HealthTimeout time.Duration
	// HealthCacheTTL is how long a probe's answer is reused, so a busy health checker costs the ledger little.
	HealthCacheTTL time.Duration

	// MaxInFlight bounds payment requests being served at once; beyond it the gateway answers 503
	// "overloaded" at once instead of queueing without limit.
	MaxInFlight int

	// BatchWindow is the longest a transfer waits for others to share its ledger call. A transfer that finds
	// no ledger call in flight is sent alone at once; otherwise it joins a batch that leaves when the calls in
	// flight return, when it holds BatchMax transfers, or BatchWindow after its first one. 0 sends every
	// transfer alone.
	BatchWindow time.Duration
	// BatchMax is the most transfers in one ledger batch call (at most the ledger's group-commit size, so a
	// batch shares its raft entry with other transfers).
	BatchMax int

	// Cache is the balance cache's mode ("" means off); on, Balances must be set (a RedisBalanceCache of the
	// same mode).
	Cache Mode
	// Lock is the per-account lock's mode ("" means off). Safe holds a fenced lock (Locks) around the
	// ledger's conditional transfer; naive holds both accounts' leases around read-check-write: read both
	// balances (through the cache when it is on), check, and set each with the ledger's blind balance write.
	// On, Locks must be set.
	Lock Mode
	// IdempotencyMode ("" means off) — naive: Claims decides whether a payment is new, and a new one goes to
	// the ledger under a fresh transfer id carrying the client's id as its payment key; safe: the ledger's
	// own idempotency decides (Idempotency may cache results). Naive needs Claims.
	IdempotencyMode Mode
	// Counts, when set, is where the gateway counts its balance reads (ledger reads, cache hits); the lab
	// keeps one per gateway across restarts and reads it each window (results.Backend).
	Counts *Counts
	// Claims is the naive idempotency's key store (a RedisIdempotency).
	Claims IdempotencyClaims
	// FailOpen says what the naive idempotency does when Claims fails: true treats the payment as new (the
	// availability choice payment teams make, and the path to a double charge); false answers 503.
	FailOpen bool

	// Nonces, when set, replaces the in-memory nonce store (the Redis issue shares one per region).
	Nonces NonceStore
	// Idempotency, when set, replaces the pass-through idempotency cache.
	Idempotency IdempotencyCache
	// Balances, when set, replaces the pass-through balance cache.
	Balances BalanceCache
	// Locks, when set, replaces the pass-through per-account lock.
	Locks AccountLocker
	// Limiter, when set, replaces the allow-everything rate limiter.
	Limiter RateLimiter

	// Logger receives what the gateway cannot answer a caller with (cache errors, server errors); nil
	// discards it.
	Logger *slog.Logger

	// Broken holds test-only switches that make the gateway wrong on purpose, so tests can prove the
	// checkers catch real payment bugs. Never set them outside a test.
	Broken Broken
}

// Broken switches make a gateway wrong on purpose (test-only).
type Broken struct {
	// NewLedgerIDOnRetry sends a payment the gateway has forwarded before — a client's retry — to the
	// ledger under a new transfer id (a fresh ULID), keeping the client's id as the payment key: the
	// ledger's dedupe by transfer id cannot see the retry, so a payment whose first attempt committed is
	// charged twice. The gateway remembers at most MaxBrokenRetryIDs payment ids.
	NewLedgerIDOnRetry bool
	// AckRejectedButCommit answers "rejected (insufficient_funds)" for transfers the ledger committed.
	AckRejectedButCommit bool
}

// MaxBrokenRetryIDs bounds the payment ids Broken.NewLedgerIDOnRetry remembers; later ids are forwarded
// unchanged.
const MaxBrokenRetryIDs = 1 << 16

// MinKeyBytes is the shortest signing key Validate accepts.
const MinKeyBytes = 16

// DefaultConfig returns bounded defaults: loopback on a free port, signatures required with a 30 s skew,
// room for 262,144 live nonces, a breaker that opens after 5 consecutive ledger failures for 500 ms and closes
// after 2 good probes, a 500 ms health probe cached for 250 ms, 4,096 payment requests in flight, and transfers coalesced into ledger
// batches of up to 256 for at most 5 ms while another ledger call is under way.
// The ledger client uses client.DefaultConfig; its Nodes are left for the caller.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:0",
		Ledger:           client.DefaultConfig(nil),
		RequireSignature: true,
		MaxSkew:          30 * time.Second,
		MaxNonces:        1 << 18,
		Breaker:          DefaultBreakerConfig(),
		HealthTimeout:    500 * time.Millisecond,
		HealthCacheTTL:   250 * time.Millisecond,
		MaxInFlight:      4096,
		BatchWindow:      5 * time.Millisecond,
		BatchMax:         256,
		Cache:            ModeOff,
		Lock:             ModeOff,
		IdempotencyMode:  ModeOff,
		FailOpen:         true,
	}
}

// Counts are a gateway's balance reads by where they were answered: LedgerReads went to the ledger
// (linearizable reads, and stale reads the cache did not answer — the load an avalanche throws at the
// ledger), CacheHits were answered by the balance cache.
type Counts struct {
	LedgerReads, CacheHits atomic.Uint64
}

// Validate checks every field and the fields against each other; each problem names its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := validName(c.ID); err != nil {
		bad("ID: %v", err)
	}
	if err := validName(c.Region); err != nil {
		bad("Region: %v", err)
	}
	if err := requireLoopbackV4(c.Addr); err != nil {
		bad("Addr: %v", err)
	}
	if err := c.Ledger.Validate(); err != nil {
		bad("Ledger: %v", err)
	}
	if c.RequireSignature && len(c.SigningKey) < MinKeyBytes {
		bad("SigningKey has %d bytes, want at least %d when RequireSignature is set", len(c.SigningKey), MinKeyBytes)
	}
	if c.MaxSkew < time.Second || c.MaxSkew > time.Hour {
		bad("MaxSkew %v must be in 1s..1h", c.MaxSkew)
	}
	if c.Nonces == nil && (c.MaxNonces < 1 || c.MaxNonces > 1<<24) {
		bad("MaxNonces %d must be in 1..%d", c.MaxNonces, 1<<24)
	}
	if err := c.Breaker.Validate(); err != nil {
		bad("Breaker: %v", err)
	}
	if c.HealthTimeout < time.Millisecond || c.HealthTimeout > time.Minute {
		bad("HealthTimeout %v must be in 1ms..1m", c.HealthTimeout)
	}
	if c.HealthCacheTTL < 0 || c.HealthCacheTTL > time.Minute {
		bad("HealthCacheTTL %v must be in 0..1m", c.HealthCacheTTL)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<20 {
		bad("MaxInFlight %d must be in 1..%d", c.MaxInFlight, 1<<20)
	}
	if c.BatchWindow < 0 || c.BatchWindow > time.Second {
		bad("BatchWindow %v must be in 0..1s", c.BatchWindow)
	}
	if c.BatchMax < 1 || c.BatchMax > ledger.MaxBatch {
		bad("BatchMax %d must be in 1..%d", c.BatchMax, ledger.MaxBatch)
	}
	for _, m := range []struct {
		name string
		mode Mode
	}{{"Cache", c.Cache}, {"Lock", c.Lock}, {"IdempotencyMode", c.IdempotencyMode}} {
		if err := m.mode.Validate(); err != nil {
			bad("%s %v", m.name, err)
		}
	}
	switch {
	case c.Cache.On() && c.Balances == nil:
		bad("Cache %q needs a balance cache (Balances)", c.Cache)
	case c.Lock.On() && c.Locks == nil:
		bad("Lock %q needs an account locker (Locks)", c.Lock)
	case c.IdempotencyMode == ModeNaive && c.Claims == nil:
		bad("IdempotencyMode naive needs an idempotency key store (Claims)")
	}
	if len(errs) > 0 {
		return fmt.Errorf("gateway config: %w", errors.Join(errs...))
	}
	return nil
}

// validName accepts 1..128 printable characters without spaces: regions' node ids ("gateway:us-east/a")
// and region names.
func validName(s string) error {
	if len(s) == 0 || len(s) > 128 {
		return fmt.Errorf("%q must have 1..128 characters", s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%q must be printable characters without spaces", s)
		}
	}
	return nil
}

// requireLoopbackV4 accepts only "IPv4-in-127.0.0.0/8:port": the lab never binds outside this machine, and a
// literal address (no "localhost") is what the lab DNS hands out.
func requireLoopbackV4(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() || !ip.IsLoopback() {
		return fmt.Errorf("%q: host must be an IPv4 address in 127.0.0.0/8 (the lab binds loopback only)", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number in 0..65535", addr, port)
	}
	return nil
}
