package lease

import (
	"time"

	"github.com/redlease/redlease/lease/internal/script"
)

// place is the lock a scope operation acts on: a resource's lease, or one
// slot of the resource's permits (see AcquirePermit). A permit scope is a
// scope lease on its slot: the same records, the same proofs, kept under
// the slot's keys.
type place struct {
	resource string
	slot     int // -1: the resource's lease
}

func leasePlace(resource string) place { return place{resource: resource, slot: -1} }

// keys are the lock, fence and release channel of the place.
func (p place) keys() keys {
	if p.slot < 0 {
		return keysFor(p.resource)
	}
	return permitKeys(p.resource, p.slot)
}

// scopeKeys are the record and progress keys of holder's scope at the place.
// A permit scope's are the holder's for the resource's permits, whatever
// the slot: a scope holds one slot, and one record across the slots makes
// the attempt order (ScopeAttempt) hold across them — an attempt of a start
// delivered late is refused on every node where a later attempt took a
// token, whichever slot it reaches for.
func (p place) scopeKeys(holder string) (record, progress string) {
	if p.slot < 0 {
		return script.ScopeKeys(p.resource, holder)
	}
	return script.PermitScopeKeys(p.resource, holder)
}

// ScopePermit makes a scope operation act on slot of the resource's
// permits, where AcquirePermitScope started the scope (PermitGrant.Slot),
// instead of on the resource's lease. It applies to AcquireScope (which
// then only continues the scope: ScopeFirst and ScopeStart are refused),
// KeepScope, ReleaseScope, EndScope, SaveProgress and LoadProgress.
// Default: the resource's lease.
func ScopePermit(slot int) ScopeOption {
	return func(c *scopeConfig) error {
		if slot < 0 || slot >= MaxPermits {
			return invalid("permit slot", "%d: want 0 to %d", slot, MaxPermits-1)
		}
		c.slot = slot + 1
		return nil
	}
}

// place is where the options direct an operation on resource.
func (c scopeConfig) place(resource string) place {
	return place{resource: resource, slot: c.slot - 1}
}

// scopeOptions applies opts to a scopeConfig with TTL ttl.
func scopeOptions(ttl time.Duration, opts []ScopeOption) (scopeConfig, error) {
	sc := scopeConfig{ttl: ttl}
	for _, opt := range opts {
		if opt == nil {
			return sc, invalid("option", "nil ScopeOption")
		}
		if err := opt(&sc); err != nil {
			return sc, err
		}
	}
	return sc, nil
}
