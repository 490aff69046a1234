-- permit_limit.lua: not a script of its own; scripts.go puts it before
-- acquire.lua's body for permits (see permit.go). It checks the resource's
-- permit limit before anything else is read or written.
--
-- KEYS[4]  limit key   redlease:{R}:permits:limit (K, no TTL)
-- ARGV[10] the caller's limit K
--
-- A node without the key records the caller's K; a node with another K
-- refuses with "redlease: permit limit <K>" and changes nothing.
local limit = redis.call('GET', KEYS[4])
if limit == false then
  redis.call('SET', KEYS[4], ARGV[10])
elseif limit ~= ARGV[10] then
  return redis.error_reply('ERR redlease: permit limit ' .. limit)
end
