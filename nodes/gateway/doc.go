// Package gateway owns the payment service tier that sits between clients and the ledger: one regional
// gateway node serving the public JSON API (transfers, account create and read — the ledger's calls), HMAC
// request signing with timestamp and nonce (the seed article's replay-attack defence), forwarding to the
// ledger leader through the ledger client package, a circuit breaker toward the ledger, /healthz that says
// whether a ledger leader is reachable, /v1/status and Prometheus metrics (paylab_gateway_*).
//
// It also owns the seams for the mechanisms the Redis issue brings — an idempotency cache, a balance cache,
// a per-account lock, a rate limiter and a shared nonce store — each an interface with a pass-through default
// that is the "safe" mode without Redis. The "naive" modes do not exist yet and Config.Validate refuses them.
//
// The gateway keeps no state of its own beyond bounded, expiring nonces; the ledger is the record of truth.
// A transfer is forwarded with the caller's id, so the ledger applies it at most once whatever happens to the
// gateway, and an answer the gateway cannot know (a timeout) is 504 outcome_unknown: retry with the same id.
package gateway
