-- force_release.lua: delete a resource's lock whatever its owner, if the
-- owner is still the one the operator saw (see Client.ForceRelease).
--
-- KEYS[1]  lock key    redlease:{R}:lock
-- KEYS[2]  fence key   redlease:{R}:fence
-- KEYS[3]  (optional) the scope record of the owner's holder
--          redlease:{R}:scope:<holder>
-- ARGV[1]  the owner id: the first hex digits of the owner value's SHA-1
-- ARGV[2]  the release channel to announce on
-- ARGV[3]  the resource name (the announcement's message)
--
-- Like every release it leaves its mark in the fence counter (see
-- release.lua): it advances the counter where it deleted the lock, and
-- where the record of the owner's scope (KEYS[3], its owner named by
-- ARGV[1]) still equals the counter — the scope's lock expired there and
-- its next keep would put it back.
--
-- Returns {1, holder} when it deleted the lock (holder: the owner value's
-- part before the first '#', "" for an owner without one), {0, ""} when
-- there was none or another owner's (nothing changed but the mark).
local function named(value)
  return value ~= false and string.sub(value, -1) ~= '#'
    and string.sub(redis.sha1hex(value), 1, #ARGV[1]) == ARGV[1]
end
local current = redis.call('GET', KEYS[1])
if named(current) then
  redis.call('DEL', KEYS[1])
  redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return {1, string.match(current, '^([^#]*)#') or ''}
end
if KEYS[3] ~= nil then
  local record = redis.call('GET', KEYS[3])
  if record ~= false then
    local head, tail = string.match(record, '^([^|]*)|[^|]*|(.*)$')
    if head ~= nil and head ~= 'released' and named(tail)
      and tonumber(head) == tonumber(redis.call('GET', KEYS[2]) or '0') then
      redis.call('INCR', KEYS[2])
    end
  end
end
return {0, ''}
