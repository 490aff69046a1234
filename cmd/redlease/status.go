package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redlease/redlease/lease"
)

// statusJSON is `status -o json`.
type statusJSON struct {
	Resource string       `json:"resource"`
	Verdict  string       `json:"verdict"` // held, free, unknown
	Holder   string       `json:"holder,omitempty"`
	Workflow *workflowRef `json:"workflow,omitempty"`
	OwnerID  string       `json:"ownerId,omitempty"`
	HeldOn   int          `json:"heldOn,omitempty"`
	ValidMS  int64        `json:"validForMs,omitempty"` // -1: no expiry
	Token    int64        `json:"highestToken"`
	Quorum   int          `json:"quorum"`
	Answered int          `json:"answered"`
	Nodes    []nodeJSON   `json:"nodes"`
}

type nodeJSON struct {
	Node         int    `json:"node"`
	Addr         string `json:"addr"`
	State        string `json:"state"` // free, held, tombstone, down
	Error        string `json:"error,omitempty"`
	Holder       string `json:"holder,omitempty"`
	Epoch        string `json:"epoch,omitempty"`
	OwnerID      string `json:"ownerId,omitempty"`
	TTLMS        int64  `json:"ttlMs,omitempty"` // -1: no expiry
	Fence        int64  `json:"fence"`
	Guard        string `json:"guard,omitempty"` // ready, guarded, new
	GuardedForMS int64  `json:"guardedForMs,omitempty"`
	SkewMS       int64  `json:"clockSkewMs"` // node time minus this machine's, at the answer
}

func verdict(st lease.Status) string {
	switch {
	case st.Answered < st.Quorum:
		return "unknown"
	case st.Held:
		return "held"
	}
	return "free"
}

// runStatus prints what the nodes hold for one resource.
func runStatus(ctx context.Context, cfg config, p *printer, resource string) error {
	lc, _, closeAll, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeAll()
	asked := time.Now()
	st, err := lc.Inspect(ctx, resource)
	if err != nil {
		return err
	}
	out := statusJSON{Resource: resource, Verdict: verdict(st), Token: st.Token, Quorum: st.Quorum, Answered: st.Answered}
	if st.Held {
		out.Holder, out.OwnerID, out.HeldOn, out.ValidMS = st.Holder, st.OwnerID, st.HeldOn, msOrNoExpiry(st.ValidFor)
		out.Workflow = temporalHolder(st.Holder, cfg.temporalUI)
	}
	for _, n := range st.Nodes {
		nj := nodeJSON{Node: n.Node, Addr: n.Addr, State: string(n.Lock), Holder: n.Holder, Epoch: string(n.Epoch), OwnerID: n.OwnerID,
			TTLMS: msOrNoExpiry(n.TTL), Fence: n.Fence, Guard: n.Guard, GuardedForMS: n.GuardedFor.Milliseconds()}
		if n.Err != nil {
			nj.Error = n.Err.Error()
		} else {
			nj.SkewMS = n.Clock.Sub(asked).Milliseconds()
		}
		out.Nodes = append(out.Nodes, nj)
	}
	if p.json {
		if err := p.JSON(out); err != nil {
			return err
		}
		return unknownErr(st)
	}
	fmt.Fprintln(p.w, st.String())
	if out.Workflow != nil {
		w := out.Workflow
		fmt.Fprintf(p.w, "Temporal: namespace %s, workflow %s, run %s, lease %s\n", w.Namespace, w.WorkflowID, w.RunID, w.Lease)
		if w.URL != "" {
			fmt.Fprintf(p.w, "  %s\n", w.URL)
		}
	}
	rows := [][]string{{"NODE", "ADDR", "STATE", "HOLDER", "OWNER", "TTL", "FENCE", "GUARD"}}
	for _, n := range st.Nodes {
		holder, guard := n.Holder, n.Guard
		if holder == "" && n.Lock == lease.LockHeld {
			holder = "(anonymous)"
		}
		if n.Guard == "guarded" {
			guard = "guarded " + dur(n.GuardedFor)
		}
		state := p.paint(string(n.Lock))
		if n.Err != nil {
			holder, guard = n.Err.Error(), ""
		}
		rows = append(rows, []string{strconv.Itoa(n.Node), n.Addr, state, holder, n.OwnerID, dur(n.TTL), strconv.FormatInt(n.Fence, 10), guard})
	}
	p.table(rows)
	return unknownErr(st)
}

// unknownErr fails status (exit 1) when fewer than a quorum of nodes
// answered: the verdict is unknown.
func unknownErr(st lease.Status) error {
	if st.Answered < st.Quorum {
		return fmt.Errorf("%s: only %d of %d nodes answered, %d needed: the verdict is unknown", st.Resource, st.Answered, len(st.Nodes), st.Quorum)
	}
	return nil
}

// msOrNoExpiry is d in milliseconds, or -1 for no expiry (d < 0).
func msOrNoExpiry(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}
