// Package workflows holds the workflow side of redlease: WithLease, which
// runs a function under a lease and releases it whatever happens, and
// ExclusiveJob, a workflow that runs one named activity under a lease.
//
// Workflow code here is deterministic: no wall clock, no goroutines, no
// map iteration; all Redis work happens in the activities of package
// activities.
package workflows
