package lease

import (
	"time"

	"github.com/redlease/redlease/internal/faultseam"
)

// clock is what validity is measured on. Go's monotonic clock stops while
// the machine is suspended (a VM paused, a laptop asleep), so a deadline on
// it would outlive a suspend and a resumed process would trust a lease
// whose locks expired on the nodes meanwhile. Validity is therefore
// measured on the wall clock too, which counts a suspend (the kernel
// advances it on resume), and a lease is valid only while both clocks say
// so. A wall clock stepped back cannot lengthen validity (the monotonic
// clock bounds it); one stepped forward ends leases early, the safe way.
// Both readings come from one time.Now call: no extra cost. (Linux's
// CLOCK_BOOTTIME would not jump, but reading it is a system call on every
// operation.)
type clock interface {
	// now is the current reading.
	now() instant
}

// instant is one reading of both clocks.
type instant struct {
	mono time.Time     // time.Now(): monotonic, stops during a suspend
	wall time.Duration // wall clock, Unix ns: keeps counting during a suspend
}

// add returns the instant d later on both clocks.
func (i instant) add(d time.Duration) instant {
	return instant{mono: i.mono.Add(d), wall: i.wall + d}
}

// until is how long from now to i: the smaller of the two clocks' answers.
func (i instant) until(now instant) time.Duration {
	return min(i.mono.Sub(now.mono), i.wall-now.wall)
}

// after reports whether i is after now on both clocks.
func (i instant) after(now instant) bool { return i.until(now) > 0 }

// laterInstant returns whichever of i and j ends later (compared by time left
// from now).
func laterInstant(now, i, j instant) instant {
	if j.until(now) > i.until(now) {
		return j
	}
	return i
}

// systemClock reads the real clocks.
type systemClock struct{}

func (systemClock) now() instant {
	now := faultseam.Now()
	return instant{mono: now, wall: time.Duration(now.UnixNano())}
}
