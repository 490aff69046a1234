-- force_release.lua: delete a resource's lock whatever its owner, if the
-- owner is still the one the operator saw (see Client.ForceRelease).
--
-- KEYS[1]  lock key          redlease:{R}:lock
-- ARGV[1]  the owner id: the first hex digits of the owner value's SHA-1
-- ARGV[2]  the release channel to announce on
--
-- Returns 1 when it deleted the lock, 0 when there was none or another
-- owner's (nothing changed).
local current = redis.call('GET', KEYS[1])
if current == false or string.sub(current, -1) == '#' then
  return 0
end
if string.sub(redis.sha1hex(current), 1, #ARGV[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], '1')
return 1
