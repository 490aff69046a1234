-- write.lua: append an entry to a fenced log, refusing stale tokens.
--
-- KEYS[1]  highest token accepted so far (string integer)
-- KEYS[2]  the log (a list of entries)
-- KEYS[3]  the rejected writes (a list of entries)
-- ARGV[1]  the writer's fencing token
-- ARGV[2]  the entry to append
--
-- Returns 1 when the entry was appended (token >= highest, which becomes
-- the token), 0 when the token is lower than the highest accepted (stale:
-- the entry goes to the rejected list, for audits and tests).
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < highest then
  redis.call('RPUSH', KEYS[3], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
