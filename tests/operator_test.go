package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/samples/fencedstore"
)

// operatorKinds are the fault suite's operator releases of a live scope,
// as `redlease release` makes them: by holder and epoch (ReleaseScope), by
// holder (ReleaseHolder), and forced by owner id (ForceRelease).
var operatorKinds = []string{"release-scope", "release-holder", "force-release"}

// release is one operator release of a live scope, as the checker needs it.
type release struct {
	kind string
	job  string // the released scope's workflow id
	// token is the highest token handed out before the release (Inspect's
	// Token): a section granted afterwards has a higher one.
	token int64
	// logLen is the fenced log's length read once the release returned:
	// entries from that index on were accepted after the release.
	logLen int
	at     time.Time // when the release returned
	// status and closeEvent are how the released job ended.
	status, closeEvent string
}

// operator releases live scopes through its own lease client, as an
// operator's `redlease release` does.
type operator struct {
	s      *stack
	client *lease.Client
}

func newOperator(t *testing.T, s *stack) *operator {
	client, err := lease.New(s.nodes.LeaseNodes(), lease.WithNodeTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &operator{s: s, client: client}
}

// release releases resource's current holder, when its workflow id starts
// with jobPrefix, the way kind says, then waits
// (up to within) for the released job to end, so that no other fault
// overlaps the release's effect: with every node up (one may be in its
// restart guard), the released section's next save is refused by a
// majority. ok is false when no such scope held the resource.
func (o *operator) release(ctx context.Context, kind, resource, jobPrefix string, within time.Duration) (r release, ok bool, err error) {
	st, err := o.client.Inspect(ctx, resource)
	if err != nil {
		return r, false, fmt.Errorf("inspect: %w", err)
	}
	fields := strings.Split(st.Holder, "/") // namespace/workflow/run/lease
	if !st.Held || len(fields) != 4 || !strings.HasPrefix(fields[1], jobPrefix) {
		return r, false, nil
	}
	r = release{kind: kind, job: fields[1], token: st.Token}
	switch kind {
	case "release-scope":
		err = o.client.ReleaseScope(ctx, resource, st.Holder, st.Epoch, 0)
	case "release-holder":
		err = o.client.ReleaseHolder(ctx, resource, st.Holder, "", 0)
	case "force-release":
		var n int
		n, err = o.client.ForceRelease(ctx, resource, st.OwnerID)
		if err == nil && n == 0 {
			err = fmt.Errorf("released on no node: %v", st)
		}
	default:
		return r, false, fmt.Errorf("unknown operator release %q", kind)
	}
	if err != nil {
		return r, false, fmt.Errorf("%s of %s: %w", kind, st.Holder, err)
	}
	entries, err := o.s.store.Log(ctx)
	if err != nil {
		return r, false, err
	}
	r.logLen, r.at = len(entries), time.Now()
	out, err := o.s.temporalWithin(within, "workflow", "result", "--workflow-id", r.job, "-o", "json")
	var res struct {
		Status     string          `json:"status"`
		CloseEvent json.RawMessage `json:"closeEvent"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		return r, false, fmt.Errorf("the released job %s did not end within %v: %v / %v", r.job, within, err, jerr)
	}
	r.status, r.closeEvent = res.Status, string(res.CloseEvent)
	return r, true, nil
}

// endedWith names the lease error type the released job's end carries.
func (r release) endedWith() string {
	for _, typ := range []string{"LeaseLost", "LeaseReleased"} {
		if strings.Contains(r.closeEvent, typ) {
			return "(" + typ + ")"
		}
	}
	return ""
}

// checkReleases returns what the fenced log and the jobs' ends show
// against the operator's releases. A released scope's section may have
// one step in flight when the release lands — its write is accepted, its
// save after it is refused and ends the attempt — so: at most one entry of
// the released job after the release, and no section of it that started
// afterwards (its token is above every token handed out before the
// release; one granted between the operator's Inspect and its release
// would be flagged too, a window of milliseconds). The released job ends
// COMPLETED (its last step was saved before the release) or FAILED with
// the release's error, never by its timeout.
func checkReleases(entries []fencedstore.Entry, releases []release) []string {
	var bad []string
	for _, r := range releases {
		var after []fencedstore.Entry
		for _, e := range entries[min(r.logLen, len(entries)):] {
			if e.Holder == r.job {
				after = append(after, e)
			}
		}
		if len(after) > 1 {
			bad = append(bad, fmt.Sprintf("%s: %d writes after its %s (at most the step in flight): %+v", r.job, len(after), r.kind, after))
		}
		for _, e := range after {
			if e.Token > r.token {
				bad = append(bad, fmt.Sprintf("%s: a section granted after its %s wrote (token %d above %d): %+v", r.job, r.kind, e.Token, r.token, e))
			}
		}
		switch {
		case r.status == "COMPLETED":
		case r.status == "FAILED" && r.endedWith() != "":
		default:
			bad = append(bad, fmt.Sprintf("%s: ended %s after its %s, want COMPLETED or FAILED with LeaseLost/LeaseReleased: %s", r.job, r.status, r.kind, r.closeEvent))
		}
	}
	return bad
}

// The checker catches what it is for: a released section that goes on
// writing, a section of the released scope started after the release, and
// a released job that ends some other way.
func TestCheckReleasesFindsWritesAfterARelease(t *testing.T) {
	log := []fencedstore.Entry{
		{Token: 5, Holder: "job-0", Step: 0}, {Token: 5, Holder: "job-0", Step: 1},
		{Token: 5, Holder: "job-0", Step: 2}, // in flight at the release (logLen 2)
		{Token: 9, Holder: "job-1", Step: 0},
	}
	lost := `{"failureInfo": "LeaseLost: lease lost"}`
	cases := []struct {
		name    string
		entries []fencedstore.Entry
		r       release
		want    string // "" when the history is fine
	}{
		{"the step in flight", log, release{job: "job-0", token: 5, logLen: 2, status: "FAILED", closeEvent: lost}, ""},
		{"nothing after", log, release{job: "job-0", token: 5, logLen: 3, status: "COMPLETED"}, ""},
		{"going on writing", log, release{job: "job-0", token: 5, logLen: 1, status: "FAILED", closeEvent: lost}, "2 writes after"},
		{"a section started afterwards", append(log[:4:4], fencedstore.Entry{Token: 12, Holder: "job-0", Step: 3}),
			release{job: "job-0", token: 5, logLen: 3, status: "FAILED", closeEvent: lost}, "granted after"},
		{"timed out", log, release{job: "job-0", token: 5, logLen: 3, status: "TIMED_OUT"}, "ended TIMED_OUT"},
		{"failed otherwise", log, release{job: "job-0", token: 5, logLen: 3, status: "FAILED", closeEvent: `{"type": "BadJob"}`}, "ended FAILED"},
	}
	for _, c := range cases {
		bad := checkReleases(c.entries, []release{c.r})
		switch {
		case c.want == "" && len(bad) != 0:
			t.Errorf("%s: flagged a fine history: %v", c.name, bad)
		case c.want != "" && (len(bad) != 1 || !strings.Contains(bad[0], c.want)):
			t.Errorf("%s: got %v, want one finding with %q", c.name, bad, c.want)
		}
	}
}
