-- extend.lua: compare-and-PEXPIRE, healing a node that lost its data.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- ARGV[1]  owner value of the caller
-- ARGV[2]  new ttl in milliseconds
-- ARGV[3]  fencing token of the lease
--
-- Returns 1 when the lock was the caller's and its TTL is reset.
-- Returns 2 when the lock was gone and this node's fence counter is below
--   the token: the counter never reached this lease's token here, so
--   nobody acquired here since and the caller's lock was not released
--   here either (a release leaves the counter at the token). That is a
--   node that lost its data, or one that was behind when the lease was
--   acquired. The lock is set again (healed) and the counter raised to
--   the token.
-- Returns 0 otherwise: another owner holds the lock, or the lock is gone
--   where the counter reached the token (released, or expired): nothing
--   changed. A release stays a release.
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current ~= false then
  return 0
end
local token = tonumber(ARGV[3])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if fence >= token then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 2
