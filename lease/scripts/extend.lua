-- extend.lua: compare-and-PEXPIRE, healing a node that lost its data.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- KEYS[3]  node key   redlease:node (the restart guard, see acquire.lua)
-- ARGV[1]  owner value of the caller
-- ARGV[2]  new ttl in milliseconds
-- ARGV[3]  fencing token of the lease
--
-- Returns 1 when the lock was the caller's and its TTL is reset.
-- Returns 2 when the lock was gone from a node that lost its data — its
--   node key is missing, or it is still in its guard window — and its fence
--   counter is below the token (nobody acquired here since): the lock is
--   set again (healed) and the counter raised to the token.
-- Returns 0 otherwise: another owner holds the lock, or the lock is gone
--   from a node that kept its data (released there, or expired): nothing
--   changed. A release stays a release. (A node that was behind at the
--   acquisition is not healed either: it never held this lock.)
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current ~= false then
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
return 2
