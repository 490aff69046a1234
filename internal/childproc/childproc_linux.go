//go:build linux

package childproc

import (
	"os/exec"
	"syscall"
)

func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The kernel sends the signal when the thread that forked the child
	// exits; Go keeps its threads for the life of the process, except
	// those of goroutines that exit while locked to their thread, which
	// this module does not use.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
