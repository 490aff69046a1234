-- call.lua: one event of a call to the rate-limited API (see pool.go),
-- fenced per permit slot.
--
-- KEYS[1]  hash slot -> highest token accepted on the slot
-- KEYS[2]  hash holder -> slot: the calls in flight
-- KEYS[3]  the log (a list of events)
-- KEYS[4]  the refused (stale) events
-- ARGV[1]  "enter" or "exit"
-- ARGV[2]  the permit's slot
-- ARGV[3]  the caller's fencing token (per slot)
-- ARGV[4]  the holder (a workflow id)
-- ARGV[5]  the event, JSON
--
-- A token lower than the slot's highest is stale: the event goes to the
-- refused list and -1 is returned. Otherwise the holder's call is
-- opened (enter; a retried call of the same holder replaces its own) or
-- closed (exit), the event is logged as "<in flight>|<event JSON>" with
-- the number of calls in flight right after it, and that number is
-- returned. (The JSON is not decoded here: Lua numbers would round the
-- tokens.)
local slot, token, holder = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local highest = tonumber(redis.call('HGET', KEYS[1], slot) or '0')
if token < highest then
  redis.call('RPUSH', KEYS[4], ARGV[5])
  return -1
end
redis.call('HSET', KEYS[1], slot, ARGV[3])
if ARGV[1] == 'enter' then
  redis.call('HSET', KEYS[2], holder, slot)
else
  redis.call('HDEL', KEYS[2], holder)
end
local inflight = redis.call('HLEN', KEYS[2])
redis.call('RPUSH', KEYS[3], inflight .. '|' .. ARGV[5])
return inflight
