-- raise_fence.lua: second acquire round when node counters diverged.
-- Raises this node's fence counter to the lease's token, but only while the
-- caller still holds the lock here, so that every node of the quorum carries
-- a counter of at least the token and the next holder's token is higher.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- ARGV[1]  owner value of the caller
-- ARGV[2]  fencing token of the lease
--
-- Returns 1 when the lock is the caller's and the counter is now >= token,
-- 0 when the lock is not the caller's (nothing changed).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local token = tonumber(ARGV[2])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if fence < token then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
