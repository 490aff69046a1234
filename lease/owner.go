package lease

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Epoch orders the attempts of one holder: a takeover succeeds only over a
// lock of the same holder whose epoch is not later, and a release
// tombstone refuses attempts from earlier epochs. Build it with NewEpoch;
// one holder must always use the same number of parts.
type Epoch string

// NewEpoch returns the epoch of parts, compared part by part (for Temporal:
// the activity's scheduled time in nanoseconds, then its attempt).
func NewEpoch(parts ...uint64) Epoch {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%020d", p)
	}
	return Epoch(b.String())
}

// newOwner returns an owner value: 128 random bits, hex-encoded, after
// "holder#epoch#" when a holder is given. Neither part holds '#' and the
// nonce is never empty, so the holder and epoch parse unambiguously and an
// owner value never looks like a tombstone (which ends in '#').
func newOwner(holder string, epoch Epoch) string {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	if holder == "" {
		return hex.EncodeToString(nonce[:])
	}
	return holder + "#" + string(epoch) + "#" + hex.EncodeToString(nonce[:])
}

// holderPrefix is what owner values of holder start with, or "" for none.
func holderPrefix(holder string) string {
	if holder == "" {
		return ""
	}
	return holder + "#"
}

// tombstone is the value a release by holder leaves behind.
func tombstone(holder string, epoch Epoch) string {
	return holder + "#" + string(epoch) + "#"
}
