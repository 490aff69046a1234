// Package leasetest starts real redis-server processes for tests of code
// that uses package lease: N independent nodes on free loopback ports, each
// with its own temporary directory and no persistence, and per-node fault
// controls (Kill, Restart, Pause, Resume).
//
// Start is for tests (cleanup by t.Cleanup; a missing redis-server skips the
// test, or fails it when the CI environment variable is "true").
// StartNodes is for programs such as benchmarks and demos, which call Close.
package leasetest
