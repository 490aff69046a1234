package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// queue is the seed's "queue without isolation": a plain Redis list that
// any consumer can read and pop, plus the output the consumers write to.
type queue struct {
	rdb  *redis.Client
	name string
}

func (q queue) inKey() string      { return "queue:{" + q.name + "}:in" }
func (q queue) outKey() string     { return "queue:{" + q.name + "}:out" }
func (q queue) lastKey() string    { return "queue:{" + q.name + "}:last" }
func (q queue) highestKey() string { return "queue:{" + q.name + "}:highest" }

// produce enqueues messages msg-0 … msg-(n−1), each carrying its sequence number.
func (q queue) produce(ctx context.Context, n int) error {
	if err := q.rdb.Del(ctx, q.inKey(), q.outKey(), q.lastKey(), q.highestKey()).Err(); err != nil {
		return err
	}
	msgs := make([]any, n)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("%d|msg-%d", i, i)
	}
	return q.rdb.RPush(ctx, q.inKey(), msgs...).Err()
}

// peek returns the head message and its sequence number, or ok=false when empty.
func (q queue) peek(ctx context.Context) (seq int, msg string, ok bool, err error) {
	head, err := q.rdb.LIndex(ctx, q.inKey(), 0).Result()
	if errors.Is(err, redis.Nil) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	seqText, _, _ := strings.Cut(head, "|")
	seq, err = strconv.Atoi(seqText)
	return seq, head, true, err
}

//go:embed process.lua
var processSource string

var processScript = redis.NewScript(processSource)

// Outcomes of process.
const (
	processed = 1
	duplicate = 2
	stale     = 0
)

// process records msg as processed by consumer: the "external side effect"
// of consuming. It is fenced (a token lower than the highest seen is
// refused) and idempotent by sequence number (a message at or below the
// last processed one is a duplicate and is not recorded again) — unless
// unsafe, which records blindly, as a consumer without a lock would.
func (q queue) process(ctx context.Context, token int64, seq int, msg, consumer string, unsafe bool) (int, error) {
	return processScript.Run(ctx, q.rdb, []string{q.outKey(), q.lastKey(), q.highestKey()},
		token, seq, msg+"|"+consumer, unsafe).Int()
}

// pop removes msg from the head if it is still there.
func (q queue) pop(ctx context.Context, msg string) error {
	head, err := q.rdb.LIndex(ctx, q.inKey(), 0).Result()
	if err != nil || head != msg {
		return nil // someone else popped it (only possible without the lock)
	}
	// Without the lock another consumer may pop in between: nothing to do.
	if err := q.rdb.LPop(ctx, q.inKey()).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// output returns the processed records in order.
func (q queue) output(ctx context.Context) ([]string, error) {
	return q.rdb.LRange(ctx, q.outKey(), 0, -1).Result()
}
