// Package chaos is the fault suite: client processes run workloads through
// the public lease API against real redis-server nodes behind TCP proxies,
// a seeded nemesis injects faults, every operation is recorded with its
// invoke and return times, and checkers (porcupine for linearizability,
// plus mutual exclusion and nothing-lost checks) judge the history.
//
// Run the bounded profile with go test ./internal/chaos (part of make
// test), the long one with make chaos. RELIABILITY.md has the figures.
package chaos
