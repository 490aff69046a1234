package chaos

import (
	"strings"
	"testing"
	"time"
)

// The permit workload under every fault kind: six workers take one of two
// permits of one resource; never more than two valid holders inside at
// once, each slot's fenced register linearizable, nothing fenced lost.
func TestFaultSuitePermits(t *testing.T) {
	rep := runProfile(t, BoundedPermits(envSeed(t, uint64(time.Now().UnixNano()))))
	for _, k := range rep.Kinds {
		if k.Kind != "none" && k.Events == 0 {
			t.Errorf("fault %s was never injected", k.Kind)
		}
	}
	if !rep.OK() {
		t.Fatalf("%d violations; replay with CHAOS_SEED=%d", len(rep.Violations), rep.Seed)
	}
	if rep.LeaseOps() < 1000 {
		t.Errorf("only %d permit operations", rep.LeaseOps())
	}
}

// The permit checker sees three valid holders of a limit-2 resource at
// once, and excuses a holder past its deadline or with a broken assumption.
func TestPermitExcessesFindsTooManyHolders(t *testing.T) {
	sec := func(w int, from, till, deadline int64) Record {
		return Record{Kind: KindSection, Worker: w, Resource: SlotResource("r", w), Base: "r", Limit: 2, Call: from, Return: till, Deadline: deadline}
	}
	none := func(Record) string { return "" }
	three := []Record{sec(0, 0, 100, 200), sec(1, 10, 100, 200), sec(2, 20, 100, 200)}
	got := permitExcesses(three, none)
	if len(got) != 1 || len(got[0].Inside) != 3 || !strings.Contains(got[0].String(), "3 holders inside at once, limit 2") {
		t.Fatalf("three holders of two permits: %v", got)
	}
	expired := []Record{sec(0, 0, 100, 15), sec(1, 10, 100, 200), sec(2, 20, 100, 200)}
	if got := permitExcesses(expired, none); len(got) != 0 {
		t.Fatalf("a holder past its deadline counted: %v", got)
	}
	paused := func(r Record) string {
		if r.Worker == 0 {
			return FaultPauseClient
		}
		return ""
	}
	if got := permitExcesses(three, paused); len(got) != 0 {
		t.Fatalf("a paused holder counted: %v", got)
	}
	inTurn := []Record{sec(0, 0, 10, 200), sec(1, 10, 20, 200), sec(2, 20, 30, 200), sec(0, 25, 40, 200)}
	if got := permitExcesses(inTurn, none); len(got) != 0 {
		t.Fatalf("holders in turn counted: %v", got)
	}
}
