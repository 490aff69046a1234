-- extend.lua: compare-and-PEXPIRE, healing a node that lost the key.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- ARGV[1]  owner value of the caller
-- ARGV[2]  new ttl in milliseconds
-- ARGV[3]  fencing token of the lease
--
-- Returns 1 when the lock was the caller's and its TTL is reset.
-- Returns 2 when the lock was gone and nobody acquired this node since the
--   caller did (fence counter <= token): the lock is set again (healed) and
--   the counter raised to the token.
-- Returns 0 when another owner holds the lock or the counter moved past the
--   token (someone acquired here since): nothing changed.
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
if fence > token then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if fence < token then
  redis.call('SET', KEYS[2], ARGV[3])
end
return 2
