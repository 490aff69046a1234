package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/redlease/redlease/lease"
)

// releaseHelp is what `redlease release -h` says a release does.
const releaseHelp = `Usage: redlease release RESOURCE -holder HOLDER [-epoch EPOCH] [flags]
       redlease release RESOURCE -force [-owner OWNER_ID] [-yes] [flags]

Frees a stuck resource on the lease nodes.

-holder releases what HOLDER holds (a Temporal workflow's holder is
namespace/workflowID/runID/leaseName, as 'redlease status' shows it): its
lock is replaced by a release tombstone, and the nodes remember that the
holder's scopes started at or before -epoch are over, so no late attempt
of them takes the resource again. -epoch defaults to the epoch of the
holder's lock on the nodes (exactly what it holds now, never a later
scope); without -epoch, a holder that holds no node is an error. A holder that is alive:
  - a lease (Go): its next extension fails, the lease ends with ErrLost and
    its context is cancelled;
  - a Temporal scope: its keeper stops, running sections fail with
    LeaseReleased or LeaseLost at their next extension, and no section of
    it runs again;
  - until then it may still act: only fencing keeps its writes out, once
    the next holder has written with its newer token.

-force releases the current owner whoever it is (an anonymous owner, a
holder nobody can name): it asks for confirmation (type yes; -yes skips
it), deletes the lock only where that owner still holds it (its owner id,
from 'redlease status', or -owner), and prints a record of what it did.
The owner loses the resource as above.

Flags:
`

// runRelease frees resource (see releaseHelp).
func runRelease(ctx context.Context, cfg config, p *printer, resource, holder, epoch string, force bool, ownerID string, yes bool, stdin io.Reader, stderr io.Writer) error {
	lc, _, closeAll, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeAll()
	st, err := lc.Inspect(ctx, resource)
	if err != nil {
		return err
	}
	who := operator()
	at := time.Now().UTC().Format(time.RFC3339)
	type record struct {
		Resource string `json:"resource"`
		Action   string `json:"action"` // release-holder or force-release
		Holder   string `json:"holder,omitempty"`
		Epoch    string `json:"epoch,omitempty"`
		OwnerID  string `json:"ownerId,omitempty"`
		Nodes    int    `json:"nodes,omitempty"` // nodes where the lock was deleted (force)
		By       string `json:"by"`
		At       string `json:"at"`
	}
	var rec record
	switch {
	case holder != "":
		e := lease.Epoch(epoch)
		if epoch == "" {
			// The epoch of what the holder holds now, as the nodes show it:
			// exactly that scope ends, never a later one (epochs are the
			// holder's clock, not this machine's).
			seen := false
			for _, n := range st.Nodes {
				if n.Lock == lease.LockHeld && n.Holder == holder && (!seen || n.Epoch > e) {
					e, seen = n.Epoch, true
				}
			}
			if !seen {
				return fmt.Errorf("%s: %s holds it on no node; nothing to release (give -epoch to end the holder's scopes up to an epoch anyway)", resource, holder)
			}
		}
		if err := lc.ReleaseScope(ctx, resource, holder, e, 0); err != nil {
			return err
		}
		rec = record{Resource: resource, Action: "release-holder", Holder: holder, Epoch: string(e), By: who, At: at}
	default:
		if ownerID == "" {
			if !st.Held {
				return fmt.Errorf("%s: no owner holds a quorum of nodes; give -owner with the owner id 'redlease status' shows on the nodes", resource)
			}
			ownerID = st.OwnerID
		}
		if !yes {
			desc := "owner " + ownerID
			if st.Held && st.OwnerID == ownerID && st.Holder != "" {
				desc += " (holder " + st.Holder + ")"
			}
			fmt.Fprintf(stderr, "Force-release %s from %s? Its holder, if alive, loses it. Type yes: ", resource, desc)
			line, _ := bufio.NewReader(stdin).ReadString('\n')
			if strings.TrimSpace(line) != "yes" {
				return errors.New("not confirmed: nothing released")
			}
		}
		n, err := lc.ForceRelease(ctx, resource, ownerID)
		if err != nil && n == 0 {
			return err
		}
		if err != nil { // released on some nodes: say so, then fail
			fmt.Fprintf(stderr, "force-released %s from owner %s on %d nodes only, by %s at %s\n", resource, ownerID, n, who, at)
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s: owner %s holds it on no node now: nothing released", resource, ownerID)
		}
		rec = record{Resource: resource, Action: "force-release", OwnerID: ownerID, Nodes: n, By: who, At: at}
		if st.Held && st.OwnerID == ownerID {
			rec.Holder = st.Holder
		}
	}
	if p.json {
		return p.JSON(rec)
	}
	switch rec.Action {
	case "release-holder":
		fmt.Fprintf(p.w, "released %s: holder %s, scopes up to epoch %s, by %s at %s\n", rec.Resource, rec.Holder, rec.Epoch, rec.By, rec.At)
	default:
		fmt.Fprintf(p.w, "force-released %s: owner %s (holder %q) deleted on %d nodes, by %s at %s\n", rec.Resource, rec.OwnerID, rec.Holder, rec.Nodes, rec.By, rec.At)
	}
	return nil
}

// operator names who runs the command, for the record.
func operator() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); name == "" && err == nil {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
