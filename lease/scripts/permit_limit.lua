-- permit_limit.lua: not a script of its own; scripts.go puts it before
-- acquire.lua's body for permits (see permit.go). It checks the resource's
-- permit limit before anything else is read or written.
--
-- KEYS[4]  limit key   redlease:{R}:permits:limit (K, no TTL)
-- ARGV[10] the caller's limit K
-- ARGV[11] "1" when the caller found a quorum of nodes that do not record
--          another limit (its read round): a differing record here is a
--          minority's and is replaced; "" to refuse it
--
-- A node without the key records the caller's K. A node with another K
-- refuses with "redlease: permit limit <K>" and changes nothing, unless
-- ARGV[11] is "1"; then it takes the caller's K and goes on.
local limit = redis.call('GET', KEYS[4])
if limit == false or (limit ~= ARGV[10] and ARGV[11] == '1') then
  redis.call('SET', KEYS[4], ARGV[10])
elseif limit ~= ARGV[10] then
  return redis.error_reply('ERR redlease: permit limit ' .. limit)
end
