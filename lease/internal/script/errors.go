package script

import (
	"strconv"
	"strings"
)

// Failure is what a script's error reply says.
type Failure int

const (
	// Other: not an error a script raises (a node's, a connection's).
	Other Failure = iota
	// FenceExhausted: the fence counter reached its bound (2^53 − 1).
	FenceExhausted
	// PermitLimit: the resource's permits are held with another limit,
	// the number Parse returns.
	PermitLimit
	// GuardMismatch: the node's restart guard is another client's, as
	// many milliseconds long as Parse returns.
	GuardMismatch
)

// The messages the scripts raise (redis.error_reply), after "ERR ".
const (
	fenceExhaustedMsg = "redlease: fence counter exhausted"
	permitLimitMsg    = "redlease: permit limit "
	guardMsg          = "redlease: guard "
)

// Parse reads an error a script raised: its kind and, for PermitLimit
// and GuardMismatch, its number.
func Parse(err error) (Failure, int64) {
	if err == nil {
		return Other, 0
	}
	msg := err.Error()
	number := func(prefix string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(msg[strings.Index(msg, prefix)+len(prefix):]), 10, 64)
		return n
	}
	switch {
	case strings.Contains(msg, fenceExhaustedMsg):
		return FenceExhausted, 0
	case strings.Contains(msg, permitLimitMsg):
		return PermitLimit, number(permitLimitMsg)
	case strings.Contains(msg, guardMsg):
		return GuardMismatch, number(guardMsg)
	}
	return Other, 0
}
