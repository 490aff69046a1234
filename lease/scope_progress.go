package lease

import (
	"bytes"
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/internal/script"
)

// Progress is saved in two rounds, so that a load can tell a save that
// counted from one that did not. A save counts when a quorum of nodes
// confirmed, at one time, that the scope holds the lock there and that no
// newer token and no release has moved the fence counter past the saving
// attempt's token (progress_check.lua): a newer attempt's acquisition, or
// a release, reaches a quorum too, and quorums intersect, so the save came
// before them. Only then is it written (progress_commit.lua), unfenced,
// to every node that takes it. A zombie's save that a quorum refused is
// thus written nowhere — not even on the nodes a newer attempt could not
// reach, which would have taken it (their counters are behind) — and a
// load takes the newest save written on any node it hears: every stored
// save counted, and a completed save sits on a quorum, which every load
// quorum meets.

// SaveProgress stores data as the progress of the scope's work named field
// (a Temporal section: its activity id), fenced by token: first a quorum
// of nodes must confirm that the scope holds the lock there and that no
// newer attempt took a token and no release happened since token was
// handed out; only then is the save written, to every node that answers.
// seq orders one attempt's saves: a save older than the stored one
// changes nothing. Saving the same (token, seq) again is harmless.
//
// It returns once a quorum of nodes stored it: LoadProgress then finds it
// (or a later save), unless nodes lost their data (see LoadProgress).
// Errors: ErrSuperseded (also ErrLost) when more than N − quorum nodes
// refused — this attempt is fenced out, and the save is stored nowhere;
// ErrScopeEnded (also ErrLost) when the holder released the scope on more
// than N − quorum nodes; a *QuorumError (ErrProgressNotSaved) when fewer
// than a quorum answered (retryable: the save may be stored on some nodes,
// and then it counted).
//
// Of opts only ScopePermit counts: it saves a permit scope's progress.
func (c *Client) SaveProgress(ctx context.Context, resource, owner string, token int64, field string, seq uint64, data []byte, opts ...ScopeOption) (err error) {
	ctx, span := c.obs.start(ctx, SpanSaveProgress, resource)
	defer func() {
		c.obs.scopeDone(ctx, span, scopeOutcome(ctx, err, OutcomeSaved, OutcomeNotSaved), err, AttrToken.Int64(token))
	}()
	return c.saveProgress(ctx, resource, owner, token, field, seq, data, opts)
}

// progressCall is one progress operation's place and scope.
type progressCall struct {
	k                keys
	record, progress string
	owner            string
	epoch            Epoch
}

func (c *Client) newProgressCall(resource, owner, field string, opts []ScopeOption) (progressCall, error) {
	if err := checkResource(resource); err != nil {
		return progressCall{}, err
	}
	sc, err := scopeOptions(0, opts)
	if err != nil {
		return progressCall{}, err
	}
	holder, epoch, err := parseScopeOwner(owner)
	if err != nil {
		return progressCall{}, err
	}
	if field == "" {
		return progressCall{}, invalid("progress field", "empty")
	}
	at := sc.place(resource)
	record, progress := at.scopeKeys(holder)
	return progressCall{k: at.keys(), record: record, progress: progress, owner: owner, epoch: epoch}, nil
}

func (c *Client) saveProgress(ctx context.Context, resource, owner string, token int64, field string, seq uint64, data []byte, opts []ScopeOption) error {
	p, err := c.newProgressCall(resource, owner, field, opts)
	if err != nil {
		return err
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	n := len(c.nodes)
	check := &op{script: script.ProgressCheck, keys: []string{p.k.Lock, p.k.Fence}, args: []any{owner, token}, decode: decodeInt64}
	checked, refused := 0, 0
	var failed []*NodeError
	err = c.round(ctx, ctx, c.allNodes(), check, func(r reply) bool {
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
		case r.val == script.CheckOK:
			checked++
		case r.val == script.CheckExpired: // not a proof
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrNotHeld}))
		default:
			refused++
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrSuperseded}))
		}
		return c.decided(checked, refused, n-checked-len(failed))
	})
	if err != nil {
		return err
	}
	if checked < c.quorum {
		qe := &QuorumError{Op: opSaveProgress, Resource: resource, Quorum: c.quorum, Confirmed: checked, Nodes: sortNodes(failed)}
		if refused > n-c.quorum {
			return errors.Join(ErrSuperseded, ErrLost, qe)
		}
		return qe
	}
	commit := &op{script: script.ProgressCommit, keys: []string{p.progress, p.record},
		args:   []any{owner, string(p.epoch), token, seq, field, data, c.cfg.scopeMemory.Milliseconds()},
		decode: decodeInt64}
	stored, released := 0, 0
	failed = failed[:0]
	err = c.round(ctx, ctx, c.allNodes(), commit, func(r reply) bool {
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
		case r.val == script.CommitStored:
			stored++
		default:
			released++
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrScopeEnded}))
		}
		return c.decided(stored, released, n-stored-len(failed))
	})
	if err != nil {
		return err
	}
	if stored < c.quorum {
		qe := &QuorumError{Op: opSaveProgress, Resource: resource, Quorum: c.quorum, Confirmed: stored, Nodes: sortNodes(failed)}
		if released > n-c.quorum {
			return errors.Join(ErrScopeEnded, ErrLost, qe)
		}
		return qe
	}
	return nil
}

// LoadProgress returns the last progress the scope owner saved for its
// work named field, and whether there is any. It asks every node (waiting
// up to one node timeout for slow ones) and returns the newest save stored
// on any node that answered: every stored save counted (see SaveProgress:
// a save a quorum refused is stored nowhere), and the last completed save
// is on a quorum, which the answers meet. It needs answers from a quorum
// of nodes that keep the scope's record (or from a quorum with no record
// at all: the scope never saved anything, or its records expired).
//
// It does not check that the scope still holds the resource: take a token
// first (AcquireScope), as activities.Run does — an acquisition after the
// scope was released or lost fails.
//
// What does not hold: a node that lost its data loses the progress it
// stored; one that the scope then took back (KeepScope or AcquireScope
// copy the lock to nodes without a record) counts again, so with such a
// node among the answers and the save's other nodes unheard, an older
// save can be returned (steps are redone, never skipped).
//
// Errors: ErrScopeEnded (also ErrLost) when more than N − quorum nodes say
// the holder released the scope; a *QuorumError with Op "load progress"
// when fewer than a quorum of nodes answered, or answered with the
// scope's record. Of opts only ScopePermit counts: it loads a permit
// scope's progress.
func (c *Client) LoadProgress(ctx context.Context, resource, owner, field string, opts ...ScopeOption) (data []byte, found bool, err error) {
	ctx, span := c.obs.start(ctx, SpanLoadProgress, resource)
	defer func() {
		c.obs.scopeDone(ctx, span, scopeOutcome(ctx, err, OutcomeLoaded, OutcomeNotExtended), err)
	}()
	return c.loadProgress(ctx, resource, owner, field, opts)
}

func (c *Client) loadProgress(ctx context.Context, resource, owner, field string, opts []ScopeOption) (data []byte, found bool, err error) {
	p, err := c.newProgressCall(resource, owner, field, opts)
	if err != nil {
		return nil, false, err
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	o := &op{script: script.ProgressLoad, keys: []string{p.progress, p.record}, args: []any{field, owner, string(p.epoch)}, decode: decodeProgressLoad}
	var (
		failed                      []*NodeError
		answered, inScope, released int
		newest                      progressValue
	)
	err = c.round(ctx, ctx, c.allNodes(), o, func(r reply) bool {
		if r.err != nil {
			failed = append(failed, c.nodeError(r))
			return false
		}
		answered++
		l := r.val.(progressLoad)
		switch l.state {
		case script.LoadInScope:
			inScope++
		case script.LoadReleased:
			released++
		}
		if v, ok := parseProgress(l.value); ok && v.owner == owner && v.after(newest) {
			newest = v
		}
		return false // every answer counts
	})
	if err != nil {
		return nil, false, err
	}
	n := len(c.nodes)
	qe := &QuorumError{Op: opLoadProgress, Resource: resource, Quorum: c.quorum, Confirmed: inScope, Nodes: sortNodes(failed)}
	switch {
	case released > n-c.quorum:
		return nil, false, errors.Join(ErrScopeEnded, ErrLost, qe)
	case answered < c.quorum:
		qe.Confirmed = answered
		return nil, false, qe
	case inScope > 0 && inScope < c.quorum:
		// Some answers come from nodes without the scope's record (it
		// never reached them, or they lost their data): they may lack the
		// last save.
		return nil, false, qe
	}
	if newest.data == nil {
		return nil, false, nil
	}
	return newest.data, true, nil
}

const opLoadProgress = "load progress"

// progressLoad is one node's answer to progress_load.lua.
type progressLoad struct {
	state int64
	value string
}

func decodeProgressLoad(cmd *redis.Cmd) (any, error) {
	v, err := cmd.Slice()
	if err != nil {
		return nil, err
	}
	if len(v) != 2 {
		return nil, errUnexpected(v)
	}
	state, ok1 := v[0].(int64)
	value, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return nil, errUnexpected(v)
	}
	return progressLoad{state: state, value: value}, nil
}

// progressValue is a stored save: "<token>:<seq>:<owner length>:<owner><data>".
type progressValue struct {
	token int64
	seq   uint64
	owner string
	data  []byte
}

func (v progressValue) after(w progressValue) bool {
	return v.token > w.token || (v.token == w.token && v.seq > w.seq)
}

func parseProgress(s string) (progressValue, bool) {
	var parts [3]int64
	rest := s
	for i := range parts {
		j := bytes.IndexByte([]byte(rest), ':')
		if j < 0 {
			return progressValue{}, false
		}
		n, err := strconv.ParseInt(rest[:j], 10, 64)
		if err != nil || n < 0 {
			return progressValue{}, false
		}
		parts[i], rest = n, rest[j+1:]
	}
	if parts[2] > int64(len(rest)) {
		return progressValue{}, false
	}
	data := []byte(rest[parts[2]:])
	return progressValue{token: parts[0], seq: uint64(parts[1]), owner: rest[:parts[2]], data: data}, true
}
