// Package fencedstore is the protected resource of the samples and the
// end-to-end tests: an append-only log in Redis that refuses writes whose
// fencing token is lower than the highest it has accepted. It is what
// turns redlease's tokens into safety: a holder whose lease ran out (a
// zombie) cannot write once a newer holder has.
package fencedstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrStaleToken is returned by Write for a token lower than the highest
// token the store has accepted.
var ErrStaleToken = errors.New("fencedstore: stale fencing token")

//go:embed write.lua
var writeSource string

var writeScript = redis.NewScript(writeSource)

// Store is one fenced log, kept under two keys of one Redis server.
type Store struct {
	rdb  redis.Scripter
	list redis.Cmdable
	name string
}

// Entry is one accepted write.
type Entry struct {
	Token  int64     `json:"token"`
	Holder string    `json:"holder"` // who wrote (e.g. a workflow id)
	Step   int       `json:"step"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
}

// New returns the store named name on rdb.
func New(rdb *redis.Client, name string) *Store {
	return &Store{rdb: rdb, list: rdb, name: name}
}

func (s *Store) keys() []string {
	base := "fencedstore:{" + s.name + "}:"
	return []string{base + "highest", base + "log", base + "rejected"}
}

// Write appends e with token, or returns ErrStaleToken (nothing written).
func (s *Store) Write(ctx context.Context, token int64, e Entry) error {
	e.Token = token
	if e.At.IsZero() {
		e.At = time.Now()
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ok, err := writeScript.Run(ctx, s.rdb, s.keys(), token, raw).Int()
	if err != nil {
		return fmt.Errorf("fencedstore: write: %w", err)
	}
	if ok == 0 {
		return fmt.Errorf("%w: token %d from %s", ErrStaleToken, token, e.Holder)
	}
	return nil
}

// Log returns every accepted entry in order.
func (s *Store) Log(ctx context.Context) ([]Entry, error) { return s.read(ctx, s.keys()[1]) }

// Rejected returns every refused (stale) write in order.
func (s *Store) Rejected(ctx context.Context) ([]Entry, error) { return s.read(ctx, s.keys()[2]) }

func (s *Store) read(ctx context.Context, key string) ([]Entry, error) {
	raws, err := s.list.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("fencedstore: read %s: %w", key, err)
	}
	entries := make([]Entry, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal([]byte(raw), &entries[i]); err != nil {
			return nil, fmt.Errorf("fencedstore: entry %d: %w", i, err)
		}
	}
	return entries, nil
}

// Check verifies a log: tokens never decrease, and each token's entries
// form one contiguous run written by one holder — two holders never
// interleaved. It returns the holders in the order they held the resource.
func Check(entries []Entry) (order []string, err error) {
	seen := map[int64]bool{}
	for i, e := range entries {
		if i > 0 {
			prev := entries[i-1]
			switch {
			case e.Token < prev.Token:
				return order, fmt.Errorf("entry %d: token %d after %d", i, e.Token, prev.Token)
			case e.Token == prev.Token && e.Holder != prev.Holder:
				return order, fmt.Errorf("entry %d: token %d shared by %s and %s", i, e.Token, prev.Holder, e.Holder)
			case e.Token == prev.Token:
				continue
			}
		}
		if seen[e.Token] {
			return order, fmt.Errorf("entry %d: token %d resumed after another holder", i, e.Token)
		}
		seen[e.Token] = true
		if len(order) == 0 || order[len(order)-1] != e.Holder {
			order = append(order, e.Holder)
		}
	}
	return order, nil
}
