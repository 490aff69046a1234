-- force_release.lua: delete a resource's lock whatever its owner, if the
-- owner is still the one the operator saw (see Client.ForceRelease).
--
-- KEYS[1]  lock key    redlease:{R}:lock
-- KEYS[2]  fence key   redlease:{R}:fence
-- ARGV[1]  the owner id: the first hex digits of the owner value's SHA-1
-- ARGV[2]  the release channel to announce on
-- ARGV[3]  the resource name (the announcement's message)
--
-- It also advances the fence counter: a scope lease proves on each node
-- that nobody was granted the lock since it last held it by a counter
-- that did not move, and would otherwise put its lock back at its next
-- keep (scope.lua). A skipped token value is harmless.
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
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
