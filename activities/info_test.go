package activities

import (
	"strings"
	"testing"

	"github.com/redlease/redlease/lease"
)

func TestHolderIDEscapesSeparatorsAndBoundsLength(t *testing.T) {
	a := HolderID("ns", "wf#1/x", "run", "")
	b := HolderID("ns", "wf", "1/x#run", "")
	if strings.Contains(a, "#") || a == b {
		t.Fatalf("holder ids %q and %q: want no '#' and no collision", a, b)
	}
	if !strings.HasSuffix(a, "/"+DefaultLeaseName) {
		t.Fatalf("holder id %q lacks the default lease name", a)
	}
	long := HolderID("ns", strings.Repeat("w", 2000), "run", "lease")
	if len(long) > lease.MaxHolderLen || !strings.HasPrefix(long, "sha256:") {
		t.Fatalf("long holder id %q (%d bytes): want a sha256 form within %d", long[:20], len(long), lease.MaxHolderLen)
	}
	if long != HolderID("ns", strings.Repeat("w", 2000), "run", "lease") {
		t.Fatal("hashed holder id is not stable")
	}
}
