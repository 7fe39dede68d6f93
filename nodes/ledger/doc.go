// Package ledger owns the replicated payment ledger node: the state machine on bbolt (accounts, transfers by
// idempotency key, balance-write journal, fencing tokens, applied index), the binary encoding of raft entries,
// the hashicorp/raft wiring (bbolt log and stable store, file snapshots, replaceable stream layer), group
// commit of concurrent transfers into one raft entry, the JSON HTTP API and its Prometheus metrics.
//
// The raft log is the record of truth and is fsynced on every append. The state file may commit without
// fsync: it stores the last applied index in the same transaction as the effects, entries at or below it are
// skipped on replay, a clean shutdown leaves a marker, and an unclean start whose state file is missing,
// unreadable, fails its consistency check or is older than the newest snapshot is rebuilt from that snapshot
// plus the log. docs/ARCHITECTURE.md explains the measurements behind that choice.
//
// Money is int64 minor units. A transfer never drives a balance below zero and never applies twice.
package ledger
