package chaos

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The store is a separate redis-server, outside the lock nodes and never
// faulted: the resource the lease protects. Per resource it keeps
//
//   - an unfenced set (plain): a read-modify-write of a comma-separated
//     list, which loses updates when two holders overlap;
//   - a fenced set: the same, but the read and the write carry the token,
//     and the store refuses both below the highest token it has seen (a
//     fenced read raises it too, so a stale holder cannot write back what
//     it read before a newer holder's write);
//   - a fenced register: "token:value", overwritten only by a higher token.
type storeKeys struct{ plain, fenced, fence, reg string }

func keysOf(resource string) storeKeys {
	base := "chaos:{" + resource + "}:"
	return storeKeys{plain: base + "plain", fenced: base + "fenced", fence: base + "fence", reg: base + "reg"}
}

// insideKey is set while client proc (with ClientConfig.Mark) is inside a
// section: the nemesis pauses it there, between its reads and its writes.
func insideKey(proc int) string { return fmt.Sprintf("chaos:inside:p%d", proc) }

// fencedReadScript: KEYS fence, data; ARGV token. {0} when the token is
// below the fence, else {1, data} and the fence is raised to the token.
var fencedReadScript = redis.NewScript(`
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < fence then return {0} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, redis.call('GET', KEYS[2]) or ''}
`)

// fencedWriteScript: KEYS fence, data; ARGV token, value. 0 when the token
// is below the fence, else 1 and data is set.
var fencedWriteScript = redis.NewScript(`
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < fence then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1
`)

// regWriteScript: KEYS reg; ARGV token, value. 1 when token is above the
// register's token (the write is applied), else 0.
var regWriteScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local last = 0
if cur then last = tonumber(string.match(cur, '^(%d+):')) end
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
return 1
`)

// outcomeOf maps a store error: nil is OK, anything else Unknown (the
// request may have been applied).
func outcomeOf(err error) string {
	if err == nil {
		return OK
	}
	return Unknown
}

func appendElem(list, elem string) string {
	if list == "" {
		return elem
	}
	return list + "," + elem
}

// Elements splits a stored set.
func Elements(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

// parseReg splits "token:value"; an absent register is token 0, value "".
func parseReg(v string) (int64, string, error) {
	if v == "" {
		return 0, "", nil
	}
	t, val, ok := strings.Cut(v, ":")
	if !ok {
		return 0, "", errors.New("chaos: malformed register " + strconv.Quote(v))
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, val, err
}

// readReg reads the register; a missing key is the initial state.
func readReg(ctx context.Context, st *redis.Client, k storeKeys) (int64, string, error) {
	v, err := st.Get(ctx, k.reg).Result()
	if errors.Is(err, redis.Nil) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	return parseReg(v)
}

// getString reads a string key; a missing key is "".
func getString(ctx context.Context, st *redis.Client, key string) (string, error) {
	v, err := st.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}
