//go:build !redlease_faults

package faultseam

import "time"

// Enabled reports whether this build carries the fault seam.
const Enabled = false

// Now is time.Now.
func Now() time.Time { return time.Now() }

// Rate is the rate of Now's clock against the real one: 1.
func Rate() float64 { return 1 }

// Broken reports whether the named guarantee is broken on purpose: never.
func Broken(string) bool { return false }
