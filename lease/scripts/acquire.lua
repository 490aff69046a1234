-- acquire.lua: take the lock on one node, or report who holds it.
--
-- KEYS[1]  lock key   redlease:{R}:lock   (owner value, PX ttl)
-- KEYS[2]  fence key  redlease:{R}:fence  (counter, no TTL)
-- ARGV[1]  owner value of the caller (holder#nonce or a random value)
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  takeover prefix "holder#", or "" when takeover is not allowed
--
-- Returns {1, fence} when the caller now holds the lock on this node:
--   free lock                        -> SET, INCR fence, return the new counter
--   lock already held by ARGV[1]     -> refresh the TTL, return the current counter
--   lock held by the same holder     -> (takeover) replace the owner, INCR fence
-- Returns {0, pttl} when another owner holds it (pttl as PTTL reports it).
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, redis.call('INCR', KEYS[2])}
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
local prefix = ARGV[3]
if prefix ~= '' and string.sub(current, 1, string.len(prefix)) == prefix then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
