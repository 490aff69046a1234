package lease

import (
	"time"

	"golang.org/x/sys/unix"
)

var processStart = time.Now()

// suspendClock reads CLOCK_BOOTTIME: monotonic, and counting the time the
// machine spent suspended.
func suspendClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Since(processStart) // kernels before 2.6.39: no suspend counted
	}
	return time.Duration(ts.Nano())
}
