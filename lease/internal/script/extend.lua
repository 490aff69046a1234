-- extend.lua: compare-and-PEXPIRE, and find nodes to heal.
--
-- KEYS[1]  lock key   redlease:{R}:lock
-- KEYS[2]  fence key  redlease:{R}:fence
-- KEYS[3]  node key   redlease:node (the restart guard, see acquire.lua)
-- ARGV[1]  owner value of the caller
-- ARGV[2]  new ttl in milliseconds
-- ARGV[3]  fencing token of the lease
--
-- Returns 1 when the lock was the caller's and its TTL is reset.
-- Returns 2 when the lock is gone from a node that lost its data — its node
--   key is missing, or it is still in its guard window — and its fence
--   counter is below the token (nobody acquired here since): the node may
--   be healed, but nothing is written. The caller heals it (heal.lua) only
--   once a quorum of nodes confirmed with 1: a heal restores copies of a
--   lease that still holds a quorum, it never makes one up. (A node that
--   lost its data also lost who held it before; had the lease been released
--   there and another holder acquired it before the loss, healing it to make
--   a quorum would give two owners.)
-- Returns 0 otherwise: another owner holds the lock, or the lock is gone
--   from a node that kept its data (released there, or expired): nothing
--   changed. A release stays a release. (A node that was behind at the
--   acquisition is not healed either: it never held this lock.)
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current ~= false then
  return 0
end
if healable() then
  return 2
end
return 0
