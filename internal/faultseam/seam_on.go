//go:build redlease_faults

package faultseam

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Enabled reports whether this build carries the fault seam.
const Enabled = true

var (
	origin = time.Now()
	rate   = 1.0
	broken = map[string]bool{}
)

func init() {
	if v := os.Getenv("REDLEASE_FAULT_CLOCK_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			panic(fmt.Sprintf("faultseam: REDLEASE_FAULT_CLOCK_RATE=%q: want a positive number", v))
		}
		rate = r
	}
	for _, b := range strings.Split(os.Getenv("REDLEASE_FAULT_BREAK"), ",") {
		switch b = strings.TrimSpace(b); b {
		case "":
		case "guard", "fence":
			broken[b] = true
		default:
			panic(fmt.Sprintf("faultseam: REDLEASE_FAULT_BREAK: unknown break %q (want guard or fence)", b))
		}
	}
}

// Now is the process's clock: time.Now, or a clock running at the rate set
// by REDLEASE_FAULT_CLOCK_RATE since the process started. Both its
// monotonic and its wall reading run at that rate.
func Now() time.Time {
	now := time.Now()
	if rate == 1 {
		return now
	}
	return origin.Add(time.Duration(float64(now.Sub(origin)) * rate))
}

// Rate is the rate of Now's clock against the real one.
func Rate() float64 { return rate }

// Broken reports whether the named guarantee is broken on purpose.
func Broken(name string) bool { return broken[name] }
