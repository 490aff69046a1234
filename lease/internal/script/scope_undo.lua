-- scope_undo.lua: take back what a failed scope acquisition took on a node
-- where the scope never held the lock before it (see scope.lua's fresh).
--
-- KEYS[1]  lock key    redlease:{R}:lock
-- KEYS[2]  record key  redlease:{R}:scope:<holder>
-- ARGV[1]  the scope's owner value
--
-- Deletes the lock if it is the scope's, and the record if it is this
-- scope's, so that a later acquisition of the scope does not count this
-- node as one the scope held and lost. The fence counter stays advanced.
-- Returns 1 when the lock was deleted, 0 otherwise.
local deleted = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  deleted = 1
end
local record = redis.call('GET', KEYS[2])
if record ~= false and string.sub(record, -(#ARGV[1] + 1)) == '|' .. ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return deleted
