-- progress_commit.lua: the second round of a progress save (see
-- scope_progress.go): store a save that a quorum of nodes checked.
--
-- KEYS[1]  progress key  redlease:{R}:progress:<holder> (a hash)
-- KEYS[2]  record key    redlease:{R}:scope:<holder>
-- ARGV[1]  the scope's owner value
-- ARGV[2]  the scope's epoch (the epoch in ARGV[1])
-- ARGV[3]  the saving attempt's token
-- ARGV[4]  the attempt's save sequence number
-- ARGV[5]  the field: which section (its activity id)
-- ARGV[6]  the progress, encoded
-- ARGV[7]  how long the progress outlives the last save, in milliseconds
--
-- The value is "<token>:<seq>:<owner length>:<owner><progress>". Only
-- saves that a quorum checked (progress_check.lua) come here, so the
-- commit is not fenced: it is written wherever it is newer than the stored
-- value, by (token, seq) — a newer attempt's save is never overwritten.
-- Returns 1 when this save, or a newer one, is stored; 5 when the holder
-- released the scope here (ReleaseScope at or after its epoch deleted its
-- progress): nothing changed.
local record = redis.call('GET', KEYS[2])
if record ~= false then
  local head, tail = string.match(record, '^([^|]*)|[^|]*|(.*)$')
  if head == 'released' and tail >= ARGV[2] then
    return 5
  end
end
local token, seq = tonumber(ARGV[3]), tonumber(ARGV[4])
local old = redis.call('HGET', KEYS[1], ARGV[5])
if old ~= false then
  local t, s = string.match(old, '^(%d+):(%d+):')
  t, s = tonumber(t), tonumber(s)
  if t ~= nil and (t > token or (t == token and s >= seq)) then
    return 1
  end
end
redis.call('HSET', KEYS[1], ARGV[5], ARGV[3] .. ':' .. ARGV[4] .. ':' .. #ARGV[1] .. ':' .. ARGV[1] .. ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1
