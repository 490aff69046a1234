-- scope_release.lua: the end of a scope (see scope.go). scripts.go puts
-- release.lua before it, wrapped as the function release_lock(): the lock
-- is released by holder with a tombstone exactly as ReleaseHolder does.
--
-- KEYS[1]  lock key      redlease:{R}:lock
-- KEYS[2]  fence key     redlease:{R}:fence
-- KEYS[3]  record key    redlease:{R}:scope:<holder>
-- KEYS[4]  progress key  redlease:{R}:progress:<holder>
-- ARGV[1..7] as release.lua (by holder: ARGV[1] empty; ARGV[7] the epoch)
-- ARGV[8]  how long the record outlives the release, in milliseconds
-- ARGV[9]  "1": release only as the attempt ARGV[7] of the scope's owner
--          ARGV[10] — where a later attempt of that scope took a token, or
--          another scope's lock sits, nothing changes ("" for the holder's
--          own, unconditional release)
-- ARGV[10] the scope's owner value (with ARGV[9])
--
-- Then the record becomes "released||<epoch>", so that no scope of this
-- holder from that epoch or earlier takes the lock again (scope.lua), and
-- the scope's saved progress is deleted — unless the record belongs to a
-- later scope of the holder (a release delivered late), which is left
-- alone with its progress. Returns what release_lock returns.
if ARGV[9] == '1' then
  local record = redis.call('GET', KEYS[3])
  if record ~= false then
    local head, mid, tail = string.match(record, '^([^|]*)|([^|]*)|(.*)$')
    if tail == ARGV[10] and head ~= 'released' and mid > ARGV[7] then
      return 0
    end
  end
  local current = redis.call('GET', KEYS[1])
  if current ~= false and current ~= ARGV[10] and string.sub(current, -1) ~= '#' then
    return 0
  end
end
local released = release_lock()
local record = redis.call('GET', KEYS[3])
if record ~= false then
  local head, _, tail = string.match(record, '^([^|]*)|([^|]*)|(.*)$')
  local later
  if head == 'released' then
    later = tail
  elseif tail ~= nil and string.sub(tail, 1, #ARGV[2]) == ARGV[2] then
    later = string.match(string.sub(tail, #ARGV[2] + 1), '^([^#]*)#')
  end
  if later ~= nil and later > ARGV[7] then
    return released
  end
end
redis.call('SET', KEYS[3], 'released||' .. ARGV[7], 'PX', ARGV[8])
redis.call('DEL', KEYS[4])
return released
