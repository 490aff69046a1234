-- process.lua: record a consumed message, fenced and idempotent.
--
-- KEYS[1]  output list
-- KEYS[2]  last processed sequence number
-- KEYS[3]  highest fencing token seen
-- ARGV[1]  consumer's fencing token
-- ARGV[2]  message sequence number
-- ARGV[3]  record to append
-- ARGV[4]  "1" to record blindly (the no-lock demonstration)
--
-- Returns 1 recorded, 2 duplicate (already processed: nothing recorded),
-- 0 stale token (nothing recorded).
if ARGV[4] == '1' then
  redis.call('RPUSH', KEYS[1], ARGV[3])
  return 1
end
local highest = tonumber(redis.call('GET', KEYS[3]) or '0')
local token = tonumber(ARGV[1])
if token < highest then
  return 0
end
redis.call('SET', KEYS[3], ARGV[1])
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[2]) <= last then
  return 2
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[3])
return 1
