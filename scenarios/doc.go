// Package scenarios owns the scenario format: the YAML schema (topology, accounts, workload, timeline of
// faults, assertions, expected verdict), a strict loader that reports every problem as file:line:col, the
// validation of everything the format itself can check, and the library of shipped scenarios
// (scenarios/library/*.yaml, embedded in the binary).
//
// Fault parameters and assertion parameters are kept as decoded YAML values with their positions; the
// fault catalogue and the assertion checkers validate them (the lab calls both), so this package depends
// on neither.
package scenarios
