// Package lab is the orchestrator: it builds a running payment system from a scenario (the toxiproxy
// network, raft ledger nodes whose peer traffic crosses it, regional gateways, the lab DNS and its health
// checker), drives the workload at it while the timeline injects and heals faults, drains, collects every
// replica's final state, runs the assertions, and writes the run directory. It owns every process, port and
// temp dir a run creates and releases them on every exit path, Ctrl-C and failed assertions included.
//
// The load generator lives in lab/load.
package lab
