-- heal.lua: put a lease's lock back on a node that lost its data.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- KEYS[3]  node key   redlease:node (the restart guard, see acquire.lua)
-- ARGV[1]  owner value of the lease
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  fencing token of the lease
--
-- Sent only after an extension that a quorum confirmed, to the nodes that
-- extend.lua found healable. Checks the same conditions again, atomically:
-- returns 1 when the lock was set again and the counter raised to the
-- token, 0 when the node is no longer healable (nothing changed).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local node = redis.call('GET', KEYS[3])
if node ~= false then
  local window, since, state = string.match(node, '^%d+:(%d+):(%d+):(%a)$')
  if state ~= 'g' then
    return 0
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if tonumber(since) + tonumber(window) <= now then
    return 0
  end
end
local token = tonumber(ARGV[3])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if fence >= token then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
