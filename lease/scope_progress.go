package lease

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// SaveProgress stores data as the progress of the scope's work named field
// (a Temporal section: its activity id), fenced: a node stores it only
// while the scope holds the lock there and its fence counter is still
// token, so an attempt that a newer one fenced out (AcquireScope gave the
// newer one a later token) cannot overwrite anything. seq orders one
// attempt's saves: a save older than the stored one changes nothing.
// Saving the same (token, seq) again is harmless.
//
// It returns once a quorum of nodes stored it: LoadProgress then finds it
// (or a later save) while the scope's records live, unless a majority of
// nodes lost their data. Errors: ErrSuperseded (also ErrLost) when more
// than N − quorum nodes refused — this attempt is fenced out; a
// *QuorumError (ErrProgressNotSaved) when fewer than a quorum answered
// (retryable: the save may have been stored on some nodes).
//
// Of opts only ScopePermit counts: it saves a permit scope's progress.
func (c *Client) SaveProgress(ctx context.Context, resource, owner string, token int64, field string, seq uint64, data []byte, opts ...ScopeOption) (err error) {
	ctx, span := c.obs.start(ctx, SpanSaveProgress, resource)
	defer func() {
		c.obs.scopeDone(ctx, span, scopeOutcome(ctx, err, OutcomeSaved, OutcomeNotSaved), err, AttrToken.Int64(token))
	}()
	return c.saveProgress(ctx, resource, owner, token, field, seq, data, opts)
}

func (c *Client) saveProgress(ctx context.Context, resource, owner string, token int64, field string, seq uint64, data []byte, opts []ScopeOption) error {
	if err := checkResource(resource); err != nil {
		return err
	}
	sc, err := scopeOptions(0, opts)
	if err != nil {
		return err
	}
	at := sc.place(resource)
	holder, _, err := parseScopeOwner(owner)
	if err != nil {
		return err
	}
	if field == "" {
		return invalid("progress field", "empty")
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	k := at.keys()
	_, progress := at.scopeKeys(holder)
	o := &op{
		script: progressSaveScript,
		keys:   []string{k.lock, k.fence, progress},
		args:   []any{owner, token, field, seq, data, c.cfg.scopeMemory.Milliseconds()},
		decode: decodeInt64,
	}
	saved, refused := 0, 0
	var failed []*NodeError
	n := len(c.nodes)
	err = c.round(ctx, ctx, c.allNodes(), o, func(r reply) bool {
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
		case r.val == int64(1):
			saved++
		case r.val == int64(2): // the lock expired there: not a proof
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrNotHeld}))
		default:
			refused++
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrSuperseded}))
		}
		return saved >= c.quorum || len(failed) > n-c.quorum
	})
	if err != nil {
		return err
	}
	if saved >= c.quorum {
		return nil
	}
	qe := &QuorumError{Op: opSaveProgress, Resource: resource, Quorum: c.quorum, Confirmed: saved, Nodes: sortNodes(failed)}
	if refused > n-c.quorum {
		return errors.Join(ErrSuperseded, ErrLost, qe)
	}
	return qe
}

// LoadProgress returns the last progress saved for the scope's work named
// field, and whether there is any. It asks every node (waiting up to one
// node timeout for slow ones) and needs a quorum of answers. With k the
// number of answers a save on a quorum must reach (answers + quorum − N),
// it returns the k-th most recent (token, seq) among them: never older
// than the last save a quorum stored, and never a save that reached fewer
// than k nodes alone. Errors: a *QuorumError with Op "load progress"
// when fewer than a quorum of nodes answered.
// Of opts only ScopePermit counts: it loads a permit scope's progress.
func (c *Client) LoadProgress(ctx context.Context, resource, holder, field string, opts ...ScopeOption) (data []byte, found bool, err error) {
	ctx, span := c.obs.start(ctx, SpanLoadProgress, resource)
	defer func() {
		c.obs.scopeDone(ctx, span, scopeOutcome(ctx, err, OutcomeLoaded, OutcomeNotExtended), err)
	}()
	return c.loadProgress(ctx, resource, holder, field, opts)
}

func (c *Client) loadProgress(ctx context.Context, resource, holder, field string, opts []ScopeOption) (data []byte, found bool, err error) {
	if err := checkResource(resource); err != nil {
		return nil, false, err
	}
	sc, err := scopeOptions(0, opts)
	if err != nil {
		return nil, false, err
	}
	var ac acquireConfig
	if err := WithHolder(holder)(&ac); err != nil {
		return nil, false, err
	}
	if field == "" {
		return nil, false, invalid("progress field", "empty")
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	_, progress := sc.place(resource).scopeKeys(holder)
	o := &op{script: progressLoadScript, keys: []string{progress}, args: []any{field}, decode: decodeString}
	var (
		failed  []*NodeError
		answers []progressValue // one per node that answered; absent saves are the zero value
	)
	err = c.round(ctx, ctx, c.allNodes(), o, func(r reply) bool {
		if r.err != nil {
			failed = append(failed, c.nodeError(r))
			return false
		}
		v, _ := parseProgress(r.val.(string))
		answers = append(answers, v)
		return false // every answer counts
	})
	if err != nil {
		return nil, false, err
	}
	answered := len(answers)
	if answered < c.quorum {
		return nil, false, &QuorumError{Op: opLoadProgress, Resource: resource, Quorum: c.quorum, Confirmed: answered, Nodes: sortNodes(failed)}
	}
	// A save that completed sits on a quorum, so at least k of these
	// answers carry it or a later one; the k-th highest answer is then no
	// older than the last completed save, and a save that reached fewer
	// than k nodes (one a newer attempt's bump had fenced out elsewhere)
	// is not taken on its own.
	k := answered + c.quorum - len(c.nodes)
	slices.SortFunc(answers, func(a, b progressValue) int {
		switch {
		case a.after(b):
			return -1
		case b.after(a):
			return 1
		}
		return 0
	})
	v := answers[k-1]
	if v.data == nil {
		return nil, false, nil
	}
	return v.data, true, nil
}

const opLoadProgress = "load progress"

func decodeString(c *redis.Cmd) (any, error) { return c.Text() }

// progressValue is a stored save: "<token>:<seq>:<data>".
type progressValue struct {
	token int64
	seq   uint64
	data  []byte
}

func (v progressValue) after(w progressValue) bool {
	return v.token > w.token || (v.token == w.token && v.seq > w.seq)
}

func parseProgress(s string) (progressValue, bool) {
	b := []byte(s)
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return progressValue{}, false
	}
	j := bytes.IndexByte(b[i+1:], ':')
	if j < 0 {
		return progressValue{}, false
	}
	token, err1 := strconv.ParseInt(s[:i], 10, 64)
	seq, err2 := strconv.ParseUint(s[i+1:i+1+j], 10, 64)
	if err1 != nil || err2 != nil {
		return progressValue{}, false
	}
	return progressValue{token: token, seq: seq, data: b[i+1+j+1:]}, true
}
