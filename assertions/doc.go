// Package assertions owns the invariant and limit checkers a paylab run is judged by: money
// invariants over the final replica states (no_double_deduct, conservation,
// no_negative_balance), agreement between the history and the replicas (no_lost_ack,
// replicas_converge), linearizability of small histories (linearizable, with porcupine), and
// limits over the recorded figures (p99, p999, error_rate, recovery_time, failover_time).
//
// It also owns the parser of a ledger replica's export (ReadReplica), so that the checkers
// audit exactly what each replica holds.
//
// Every checker is a pure function of an Input and returns a results.AssertionResult with a
// three-state verdict (after Jepsen): fail when it found a violation, unknown when it could
// not decide (missing input, a bound exceeded, a panic), pass otherwise; each result carries
// the observed value, the limit and bounded evidence (the first violating ids, counts, the
// first, worst and last violation). The catalogue is an explicit list (Lookup, Names, New);
// CheckAll runs a list of checkers, skipping those whose assumptions failed (after etcd's
// robustness validate).
//
// assertions depends only on results; it knows nothing of the ledger's packages, the lab or
// the scenario loader.
package assertions
