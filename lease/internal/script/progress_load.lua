-- progress_load.lua: read a scope section's progress (see
-- scope_progress.go).
--
-- KEYS[1]  progress key  redlease:{R}:progress:<holder> (a hash)
-- KEYS[2]  record key    redlease:{R}:scope:<holder>
-- ARGV[1]  the field: which section (its activity id)
-- ARGV[2]  the scope's owner value
-- ARGV[3]  the scope's epoch (the epoch in ARGV[2])
--
-- Returns {state, value}: value is the field's stored value
-- (progress_commit.lua), "" when there is none; state is 1 when this node
-- keeps the scope's record (it took part in the scope and kept its data),
-- 5 when the holder released the scope here (ReleaseScope at or after its
-- epoch), 0 otherwise (no record of the scope: it never reached this node,
-- the node lost its data, or a later scope of the holder replaced it).
-- Reads only.
local value = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local record = redis.call('GET', KEYS[2])
if record == false then
  return {0, value}
end
local head, tail = string.match(record, '^([^|]*)|[^|]*|(.*)$')
if head == 'released' then
  if tail >= ARGV[3] then
    return {5, value}
  end
  return {0, value}
end
if tail == ARGV[2] then
  return {1, value}
end
return {0, value}
