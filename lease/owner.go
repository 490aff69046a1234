package lease

import (
	"crypto/rand"
	"encoding/hex"
)

// newOwner returns an owner value: 128 random bits, hex-encoded, after
// "holder#" when a holder is given. The nonce has no '#', so holder
// prefixes cannot be forged by a nonce.
func newOwner(holder string) string {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	if holder == "" {
		return hex.EncodeToString(nonce[:])
	}
	return holder + "#" + hex.EncodeToString(nonce[:])
}

// holderPrefix is what owner values of holder start with, or "" for none.
func holderPrefix(holder string) string {
	if holder == "" {
		return ""
	}
	return holder + "#"
}
