// Package tests holds the end-to-end tests: a real Temporal dev server
// (temporal server start-dev), real redis-server nodes, and the worker
// binary as separate processes, driven through the temporal CLI with
// JSON output. They fail (not skip) under CI=true when a binary is missing.
package tests
