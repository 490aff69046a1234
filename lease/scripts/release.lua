-- release.lua: compare-and-delete, then wake waiters.
--
-- KEYS[1]  lock key          redlease:{R}:lock
-- ARGV[1]  owner value of the caller
-- ARGV[2]  holder prefix "holder#" to release whatever this holder owns, or ""
-- ARGV[3]  channel on which to announce the release, or "" for none
-- ARGV[4]  message to publish (the resource name)
--
-- Returns 1 when the lock was deleted, 0 when it was not the caller's or was
-- already gone (nothing changed, nothing published).
local current = redis.call('GET', KEYS[1])
if current == false then
  return 0
end
local prefix = ARGV[2]
if current == ARGV[1] or (prefix ~= '' and string.sub(current, 1, string.len(prefix)) == prefix) then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then
    redis.call('PUBLISH', ARGV[3], ARGV[4])
  end
  return 1
end
return 0
