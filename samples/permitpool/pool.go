// Package permitpool is the sample of a resource that at most K workflows
// may use at once: a rate-limited partner API with K connections. Each
// workflow holds one of K permits (workflows.WithPermit) and calls the
// API in critical sections; the API stand-in, Pool, fences every call per
// permit slot and logs how many calls are in flight after every event, so
// the log shows the concurrency at every instant.
package permitpool

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrStaleToken is returned by Enter and Exit for a token lower than the
// highest the pool accepted on the slot: a fenced-out permit holder.
var ErrStaleToken = errors.New("permitpool: stale fencing token for the slot")

//go:embed call.lua
var callSource string

var callScript = redis.NewScript(callSource)

// Pool is the rate-limited API's stand-in, kept in one Redis server: it
// accepts a call's events only with a token at or above the highest its
// permit slot has seen, and counts the calls in flight by holder.
type Pool struct {
	rdb  *redis.Client
	name string
}

// Event is one accepted (or refused) call event.
type Event struct {
	Event  string    `json:"event"` // "enter" or "exit"
	Holder string    `json:"holder"`
	Slot   int       `json:"slot"`
	Token  int64     `json:"token"`
	Call   int       `json:"call"`
	At     time.Time `json:"at"`
	// InFlight is the number of holders with a call open right after this
	// event, counted by the pool (0 in refused events).
	InFlight int `json:"inflight,omitempty"`
}

// New returns the pool named name on rdb.
func New(rdb *redis.Client, name string) *Pool { return &Pool{rdb: rdb, name: name} }

func (p *Pool) keys() []string {
	base := "permitpool:{" + p.name + "}:"
	return []string{base + "highest", base + "open", base + "log", base + "refused"}
}

// Enter opens holder's call on slot with token; it returns the calls in
// flight, or ErrStaleToken (nothing changed but the refused list).
func (p *Pool) Enter(ctx context.Context, slot int, token int64, holder string, call int) (int, error) {
	return p.event(ctx, "enter", slot, token, holder, call)
}

// Exit closes holder's call, fenced like Enter.
func (p *Pool) Exit(ctx context.Context, slot int, token int64, holder string, call int) (int, error) {
	return p.event(ctx, "exit", slot, token, holder, call)
}

func (p *Pool) event(ctx context.Context, kind string, slot int, token int64, holder string, call int) (int, error) {
	raw, err := json.Marshal(Event{Event: kind, Holder: holder, Slot: slot, Token: token, Call: call, At: time.Now()})
	if err != nil {
		return 0, err
	}
	n, err := callScript.Run(ctx, p.rdb, p.keys(), kind, slot, token, holder, raw).Int()
	switch {
	case err != nil:
		return 0, fmt.Errorf("permitpool: %s: %w", kind, err)
	case n < 0:
		return 0, fmt.Errorf("%w: %s on slot %d with token %d from %s", ErrStaleToken, kind, slot, token, holder)
	}
	return n, nil
}

// Log returns every accepted event in order.
func (p *Pool) Log(ctx context.Context) ([]Event, error) { return p.read(ctx, p.keys()[2]) }

// Refused returns every refused (stale) event in order.
func (p *Pool) Refused(ctx context.Context) ([]Event, error) { return p.read(ctx, p.keys()[3]) }

func (p *Pool) read(ctx context.Context, key string) ([]Event, error) {
	raws, err := p.rdb.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("permitpool: read %s: %w", key, err)
	}
	events := make([]Event, len(raws))
	for i, raw := range raws {
		// The log holds "<in flight>|<JSON>", the refused list the JSON alone.
		count, event, logged := "", raw, !strings.HasPrefix(raw, "{")
		if logged {
			count, event, _ = strings.Cut(raw, "|")
		}
		if err := json.Unmarshal([]byte(event), &events[i]); err != nil {
			return nil, fmt.Errorf("permitpool: event %d: %w", i, err)
		}
		if logged {
			if events[i].InFlight, err = strconv.Atoi(count); err != nil {
				return nil, fmt.Errorf("permitpool: event %d: in flight %q: %w", i, count, err)
			}
		}
	}
	return events, nil
}

// Check verifies a log against limit: never more than limit calls in
// flight after any event, each slot's tokens never decreasing, and no call
// left open at the end. It returns the highest concurrency seen.
func Check(events []Event, limit int) (most int, err error) {
	last := map[int]int64{}
	open := map[string]bool{}
	for i, e := range events {
		if e.InFlight > limit {
			return e.InFlight, fmt.Errorf("event %d: %d calls in flight, limit %d (%s %s on slot %d)", i, e.InFlight, limit, e.Holder, e.Event, e.Slot)
		}
		if e.Token < last[e.Slot] {
			return most, fmt.Errorf("event %d: slot %d token %d after %d", i, e.Slot, e.Token, last[e.Slot])
		}
		last[e.Slot] = e.Token
		most = max(most, e.InFlight)
		open[e.Holder] = e.Event == "enter"
	}
	for holder, isOpen := range open {
		if isOpen {
			return most, fmt.Errorf("%s's call never ended", holder)
		}
	}
	return most, nil
}
