package leasetest

import (
	"errors"
	"fmt"
	"sync"
)

// ErrStaleToken is returned by FencedRegister.Enter for a token that is not
// higher than the last accepted one.
var ErrStaleToken = errors.New("leasetest: stale fencing token")

// FencedRegister stands in for a resource protected by fencing tokens: it
// accepts a holder only with a token higher than every token accepted
// before, and it records every violation an observer can see: two holders
// inside at once, or a stale token. Safe for concurrent use.
type FencedRegister struct {
	mu       sync.Mutex
	last     int64
	inside   map[int64]string // token -> holder, for holders between Enter and Exit
	log      []Entry
	overlaps []string
	rejected int
}

// Entry is one accepted Enter.
type Entry struct {
	Token  int64
	Holder string
}

// Enter admits holder with token, or returns ErrStaleToken (and records the
// rejection) when token is not higher than the last accepted token.
func (r *FencedRegister) Enter(token int64, holder string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token <= r.last {
		r.rejected++
		return fmt.Errorf("%w: %d after %d (holder %s)", ErrStaleToken, token, r.last, holder)
	}
	if r.inside == nil {
		r.inside = make(map[int64]string)
	}
	for t, h := range r.inside {
		r.overlaps = append(r.overlaps, fmt.Sprintf("%s (token %d) entered while %s (token %d) was inside", holder, token, h, t))
	}
	r.last = token
	r.inside[token] = holder
	r.log = append(r.log, Entry{Token: token, Holder: holder})
	return nil
}

// Exit marks the holder admitted with token as gone.
func (r *FencedRegister) Exit(token int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inside, token)
}

// Log returns a copy of the accepted entries in order.
func (r *FencedRegister) Log() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.log...)
}

// Rejected is the number of stale tokens refused.
func (r *FencedRegister) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Check returns an error describing every overlap seen and any accepted
// token that did not increase (which Enter prevents; Check verifies it).
func (r *FencedRegister) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, o := range r.overlaps {
		errs = append(errs, errors.New("overlap: "+o))
	}
	for i := 1; i < len(r.log); i++ {
		if r.log[i].Token <= r.log[i-1].Token {
			errs = append(errs, fmt.Errorf("token %d after %d at entry %d", r.log[i].Token, r.log[i-1].Token, i))
		}
	}
	return errors.Join(errs...)
}
