package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/redlease/redlease/lease"
)

// Activity names under which Register registers the activities.
const (
	AcquireName = "redlease.AcquireLease"
	KeepName    = "redlease.KeepLease"
	ReleaseName = "redlease.ReleaseLease"
)

// DefaultLeaseName names a workflow's lease when the request gives none.
const DefaultLeaseName = "default"

// AcquireRequest is the input of AcquireLease.
type AcquireRequest struct {
	// Lease is the scope to acquire: Resource, Holder, Owner and TTL are
	// used (from NewLeaseInfo).
	Lease LeaseInfo
	// Wait bounds how long to wait for the lease; 0 waits until the
	// activity's own timeout. The activity heartbeats while it waits.
	Wait time.Duration
}

// LeaseInfo describes a workflow run's scope lease. It is serializable and
// carries what every activity of the scope needs.
type LeaseInfo struct {
	Resource string
	Holder   string
	// Owner is the scope's owner value, holder#epoch#nonce (see
	// lease.NewScopeOwner): every activity of the scope acts for it.
	Owner string
	// Token is the fencing token of the scope's acquisition by
	// AcquireLease; 0 when the first critical section acquires the lease
	// itself (acquire-and-run). Each section attempt takes a newer one
	// (Section.Token).
	Token int64
	TTL   time.Duration
	// Limit is set for a permit scope (workflows.AcquirePermit): the
	// resource's number of permits, K. The scope then holds one of K slots
	// (lease.Client.AcquirePermitScope) instead of the resource's lease.
	// 0 for a lease.
	Limit int `json:",omitempty"`
	// Slot is a permit scope's slot, set by AcquireLease with Token; valid
	// once Started. Tokens are per slot: a resource fences permit holders
	// per (Slot, Token).
	Slot int `json:",omitempty"`
	// Last marks the scope's last critical section: Run releases the scope
	// as soon as the section's function succeeded, so the next holder
	// starts without waiting for the workflow to run ReleaseLease. Set it
	// with AsLast.
	Last bool
}

// AsLast returns l marked as the scope's last section (see Last). No
// section of the scope may run after it has succeeded.
func (l LeaseInfo) AsLast() LeaseInfo {
	l.Last = true
	return l
}

// IsPermit reports whether l is a permit scope (Limit > 0).
func (l LeaseInfo) IsPermit() bool { return l.Limit > 0 }

// scopeOptions direct the lease package's scope operations to the permit
// scope's slot; none for a lease.
func (l LeaseInfo) scopeOptions() []lease.ScopeOption {
	if !l.IsPermit() {
		return nil
	}
	return []lease.ScopeOption{lease.ScopePermit(l.Slot)}
}

// Started reports whether the workflow knows the scope was acquired
// (AcquireLease returned): sections then only continue it.
func (l LeaseInfo) Started() bool { return l.Token > 0 }

// NewLeaseInfo describes a new scope of the workflow run's lease named
// leaseName on resource, starting at epoch (workflow code: the workflow's
// time when the scope starts; see lease.NewEpoch). nonce makes the owner
// value unguessable; workflow code gets it through a side effect.
func NewLeaseInfo(resource, namespace, workflowID, runID, leaseName string, epoch lease.Epoch, nonce string, ttl time.Duration) LeaseInfo {
	holder := HolderID(namespace, workflowID, runID, leaseName)
	return LeaseInfo{Resource: resource, Holder: holder, Owner: holder + "#" + string(epoch) + "#" + nonce, TTL: ttl}
}

// HolderID returns the holder id of a workflow run's lease:
// namespace/workflowID/runID/leaseName, with '%' and '#' escaped (owner
// values are holder#epoch#nonce). An id longer than lease.MaxHolderLen is
// replaced by "sha256:" and its hash.
func HolderID(namespace, workflowID, runID, leaseName string) string {
	if leaseName == "" {
		leaseName = DefaultLeaseName
	}
	esc := strings.NewReplacer("%", "%25", "#", "%23", "/", "%2F")
	id := esc.Replace(namespace) + "/" + esc.Replace(workflowID) + "/" + esc.Replace(runID) + "/" + esc.Replace(leaseName)
	if len(id) > lease.MaxHolderLen {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}
