-- progress_save.lua: record a scope section's progress, fenced.
--
-- KEYS[1]  lock key      redlease:{R}:lock
-- KEYS[2]  fence key     redlease:{R}:fence
-- KEYS[3]  progress key  redlease:{R}:progress:<holder> (a hash)
-- ARGV[1]  the scope's owner value
-- ARGV[2]  the saving attempt's token
-- ARGV[3]  the field: which section (its activity id)
-- ARGV[4]  the attempt's save sequence number
-- ARGV[5]  the progress, encoded
-- ARGV[6]  how long the progress outlives the last save, in milliseconds
--
-- The value is "<token>:<seq>:<progress>". Returns 1 when the progress is
-- stored (or this very save already was): the scope holds the lock here
-- and the counter is not past the attempt's token, so no newer attempt
-- took a token here. Returns 0 when the counter is past the token (a newer
-- attempt took one), and for a save older than the stored one; 2 when the
-- lock is not the scope's here but the counter did not move (it expired,
-- or the node lost it): nothing changed. A fenced-out attempt never overwrites a
-- newer one's. (A node the newer attempt did not reach may still take an
-- older attempt's save; LoadProgress reads past such a minority.)
if tonumber(redis.call('GET', KEYS[2]) or '0') > tonumber(ARGV[2]) then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 2
end
local token, seq = tonumber(ARGV[2]), tonumber(ARGV[4])
local old = redis.call('HGET', KEYS[3], ARGV[3])
if old ~= false then
  local t, s = string.match(old, '^(%d+):(%d+):')
  t, s = tonumber(t), tonumber(s)
  if t > token or (t == token and s > seq) then
    return 0
  end
  if t == token and s == seq then
    return 1
  end
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2] .. ':' .. ARGV[4] .. ':' .. ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
