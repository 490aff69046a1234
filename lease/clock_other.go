//go:build !linux

package lease

import "time"

// suspendClock reads the wall clock, which counts a suspend once the
// system has resynchronised it. A backward jump cannot lengthen validity:
// the monotonic clock bounds it too.
func suspendClock() time.Duration { return time.Duration(time.Now().UnixNano()) }
