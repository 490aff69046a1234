package script

import (
	"errors"
	"testing"
)

// The key layout is what nodes already hold: a change would strand every
// lock, fence counter and scope record written by an earlier version.
func TestKeyLayout(t *testing.T) {
	k := LeaseKeys("printer")
	if k != (Keys{Lock: "redlease:{printer}:lock", Fence: "redlease:{printer}:fence", Channel: "redlease:{printer}:released"}) {
		t.Fatalf("LeaseKeys: %+v", k)
	}
	p := PermitKeys("printer", 3)
	if p != (Keys{Lock: "redlease:{printer}:permit:3", Fence: "redlease:{printer}:permit:3:fence", Channel: "redlease:{printer}:permits:released"}) {
		t.Fatalf("PermitKeys: %+v", p)
	}
	if r, pr := ScopeKeys("printer", "h"); r != "redlease:{printer}:scope:h" || pr != "redlease:{printer}:progress:h" {
		t.Fatalf("ScopeKeys: %s %s", r, pr)
	}
	if r, pr := PermitScopeKeys("printer", "h"); r != "redlease:{printer}:permits:scope:h" || pr != "redlease:{printer}:permits:progress:h" {
		t.Fatalf("PermitScopeKeys: %s %s", r, pr)
	}
	if got := LockPattern("a*b"); got != `redlease:{a\*b*}:lock` {
		t.Fatalf("LockPattern: %s", got)
	}
	for key, want := range map[string]string{"redlease:{printer}:lock": "printer", "redlease:{printer}:fence": "", "redlease:{}:lock": "", "other:{x}:lock": ""} {
		if r, ok := ResourceOfLock(key); ok != (want != "") || (ok && r != want) {
			t.Errorf("ResourceOfLock(%q) = %q, %v; want %q", key, r, ok, want)
		}
	}
}

func TestParseReadsTheScriptsErrors(t *testing.T) {
	for msg, want := range map[string]struct {
		f Failure
		n int64
	}{
		"ERR redlease: fence counter exhausted script: …": {FenceExhausted, 0},
		"ERR redlease: permit limit 4":                    {PermitLimit, 4},
		"ERR redlease: guard 60000":                       {GuardMismatch, 60000},
		"NOSCRIPT No matching script":                     {Other, 0},
	} {
		if f, n := Parse(errors.New(msg)); f != want.f || n != want.n {
			t.Errorf("Parse(%q) = %v, %d; want %v, %d", msg, f, n, want.f, want.n)
		}
	}
	if f, _ := Parse(nil); f != Other {
		t.Errorf("Parse(nil) = %v", f)
	}
}

func TestEveryScriptHasADistinctSource(t *testing.T) {
	seen := map[string]bool{}
	for i, sha := range SHA1s() {
		if seen[sha] || Sources[i] == "" {
			t.Fatalf("script %d: empty or a duplicate", i)
		}
		seen[sha] = true
	}
	if len(seen) != 18 {
		t.Fatalf("%d scripts, want 18", len(seen))
	}
}
