-- heal.lua: put a lease's lock back on a node that lost its data.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- KEYS[3]  node key   redlease:node (the restart guard, see acquire.lua)
-- ARGV[1]  owner value of the lease
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  fencing token of the lease
--
-- Sent only after an extension that a quorum confirmed, to the nodes that
-- extend.lua found healable. Checks the same conditions again, atomically:
-- returns 1 when the lock was set again and the counter raised to the
-- token, 0 when the node is no longer healable (nothing changed).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if not healable() then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
