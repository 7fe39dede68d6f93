// Package faults owns paylab's fault catalogue: every fault a scenario's
// timeline can name, with its parameters validated before a run starts, an
// Inject that breaks one thing in a running lab and a Heal that restores
// exactly what was there before (and does nothing the second time), and the
// Timeline that injects and heals them on schedule, records each fault's
// window with exact times, and heals whatever is still active when the lab
// stops, whichever way it stops.
//
// The catalogue is an explicit list (Catalogue, Lookup): a Kind has a name as
// scenarios spell it ("zone-down"), a one-line doc, the grammar of its target
// and its parameters. Kind.New checks a step's target against the topology
// and its parameters against their declared types, and returns a Fault. This
// is toxiproxy's envelope-then-typed-parameters shape without its init()
// registry, and etcd robustness's Failpoint list with heal always reachable.
//
// Faults act on a running lab only through Env, a small interface the lab
// implements: the network (regions.Network), the lab DNS, crashing and
// restarting nodes, a direct client of a region's Redis, the current ledger
// leader, the clients' DNS caches, and an event sink. Nothing here knows how the lab is built, so the same faults run
// against the lab, a test harness, or (later) nodes in separate processes.
//
// Dependencies: faults → regions, results (for results.Event), go-redis
// (Env.Redis, for cache-flush and cache-avalanche). The lab
// imports faults, never the other way round.
package faults
