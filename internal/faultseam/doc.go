// Package faultseam is where the fault suite (internal/chaos) reaches into
// the lease client: a clock that runs at another rate, and switches that
// break a guarantee on purpose so the suite can show it catches the break.
//
// Everything here is compiled in only with the build tag redlease_faults
// and then read from the environment once, at start:
//
//	REDLEASE_FAULT_CLOCK_RATE  the process's clock runs at this rate (0.5:
//	                           half speed) from the moment it starts
//	REDLEASE_FAULT_BREAK       comma-separated breaks: "guard" (nodes get a
//	                           zero restart-guard window), "fence" (no fence
//	                           floor, the lowest granted counter is the
//	                           token, counters are never raised)
//
// Without the tag (every normal build) the functions are constants that
// the compiler folds away: Now is time.Now, and nothing is broken.
package faultseam
