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
	ReleaseName = "redlease.ReleaseLease"
)

// DefaultLeaseName names a workflow's lease when the request gives none.
const DefaultLeaseName = "default"

// AcquireRequest is the input of AcquireLease.
type AcquireRequest struct {
	Resource string
	// LeaseName distinguishes several leases of one workflow run. Default:
	// DefaultLeaseName.
	LeaseName string
	// TTL of the lease on the Redis nodes. Default: the lease.Client's TTL.
	TTL time.Duration
	// Wait bounds how long to wait for the lease; 0 waits until the
	// activity's own timeout. The activity heartbeats while it waits.
	Wait time.Duration
}

// LeaseInfo describes a lease held by a workflow run. It is serializable
// and carries what later activities need: Run takes the lease over by
// Holder, ReleaseLease releases by Holder.
type LeaseInfo struct {
	Resource string
	Holder   string
	// Owner is the owner value of the attempt that acquired the lease. It
	// is a credential for that attempt's lock; it is kept so that the
	// acquisition can be audited, not used for release.
	Owner string
	// Token is the fencing token of that acquisition; Run takes the lease
	// over with a newer one (Section.Token).
	Token int64
	TTL   time.Duration
}

// HolderID returns the holder id of a workflow run's lease:
// namespace/workflowID/runID/leaseName, with '%' and '#' escaped (owner
// values are holder#nonce). An id longer than lease.MaxHolderLen is
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
