-- permit_limit.lua: not a script of its own; scripts.go puts it before
-- the body of acquire.lua (AcquirePermit) or scope.lua (the start of a
-- permit scope, AcquirePermitScope). It checks the resource's permit limit
-- before anything else is read or written. Its key and argument come after
-- the body's own, last:
--
-- KEYS[#KEYS]  limit key  redlease:{R}:permits:limit (K, no TTL)
-- ARGV[#ARGV]  the caller's limit K
--
-- A node that records another K refuses with "redlease: permit limit <K>"
-- and changes nothing: a record is never overwritten here, so a call whose
-- K differs from what a quorum of nodes records cannot get a quorum of
-- grants. A node without the record (a fresh resource, or a node that lost
-- its data) records the caller's K and goes on. A minority's differing
-- record is repaired after an acquisition succeeded (permit_limit_repair.lua).
local limit_key, want = KEYS[#KEYS], ARGV[#ARGV]
local limit = redis.call('GET', limit_key)
if limit == false then
  redis.call('SET', limit_key, want)
elseif limit ~= want then
  return redis.error_reply('ERR redlease: permit limit ' .. limit)
end
