// Package activities wraps package lease for Temporal: activities that
// acquire and release a lease on behalf of a workflow run, and Run, which
// executes a critical section as a heartbeating activity that keeps the
// lease alive and is cancelled when the lease is lost.
//
// Identity. A workflow's lease has a holder id,
// namespace/workflowID/runID/leaseName; the owner value stored in Redis is
// holder#epoch#nonce, where the epoch orders the attempts (the activity's
// scheduled time, then its attempt number) and the nonce is new for every
// attempt. An attempt takes over a lock of its holder from an earlier
// epoch, with a fresh and higher fencing token, so a previous attempt still
// running on a crashed or partitioned worker (a zombie) is fenced out. An
// attempt delivered late never takes the lock from a newer one, nor runs
// after ReleaseLease (which leaves a tombstone for the TTL). A lock of
// another holder is never taken over.
//
// Timing rule. The lease TTL must exceed the critical section's
// HeartbeatTimeout plus the extension interval: Temporal then declares an
// attempt dead (and retries it) before its lease can expire under a live
// holder, and a dead worker's lease still expires by itself.
package activities
