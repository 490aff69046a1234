-- inspect.lua: what one node holds for a resource, read only (see
-- Client.Inspect).
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- KEYS[3]  node key   redlease:node (the restart guard)
--
-- Returns {lock value or "", lock pttl (ms; -2 absent), fence counter or
-- "0", node key or "", the node's time in ms}.
local t = redis.call('TIME')
return {
  redis.call('GET', KEYS[1]) or '',
  redis.call('PTTL', KEYS[1]),
  redis.call('GET', KEYS[2]) or '0',
  redis.call('GET', KEYS[3]) or '',
  tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000),
}
