// Package childproc ties helper processes (redis-server nodes, the Temporal
// dev server, worker binaries) to the process that starts them, so that a
// test binary killed by its timeout or a demo killed by a signal does not
// leave them running.
package childproc

import "os/exec"

// DieWithParent arranges for cmd, once started, to be killed (SIGKILL) when
// the process that started it exits. It must be called before cmd.Start.
// It is done on Linux (the parent-death signal); elsewhere it does nothing,
// and the caller's own cleanup is all there is.
func DieWithParent(cmd *exec.Cmd) { dieWithParent(cmd) }
