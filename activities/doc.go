// Package activities wraps package lease for Temporal: the activities a
// workflow's scope lease runs on (AcquireLease, KeepLease, ReleaseLease)
// and Run, which executes a critical section as a heartbeating activity
// under the scope.
//
// The scope. A workflow's lease is a lease.Client scope lease: one owner
// value, holder#epoch#nonce, chosen by the workflow when the scope starts
// and used by every activity of the scope, whichever worker runs it. The
// holder is namespace/workflowID/runID/leaseName. AcquireLease takes the
// lock; KeepLease, a heartbeating activity that lives as long as the scope,
// extends it however long the workflow spends between sections (timers,
// signals, retries with long backoff); when its worker dies, Temporal's
// heartbeat timeout moves it to another worker before the TTL runs out.
// Each critical-section attempt (Run) takes a fresh, higher fencing token
// for the scope, so an earlier attempt still running on a crashed or
// partitioned worker (a zombie) is fenced out, and it continues the scope
// only where the nodes prove that nobody else held the resource since the
// scope acquired it. When they prove the opposite, the section fails with
// a non-retryable LeaseLost; nothing else (down, slow or paused nodes) is
// final. ReleaseLease ends the scope: no attempt of it runs afterwards.
//
// Timing rule. The lease TTL must exceed the HeartbeatTimeout plus the
// extension interval (HeartbeatTimeout/2, at most TTL/3) plus KeeperRestart
// (1 s): Temporal then restarts a dead keeper elsewhere before the lease can
// expire under a live scope, and a dead worker's lease still expires by
// itself.
package activities
