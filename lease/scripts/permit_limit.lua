-- permit_limit.lua: not a script of its own; scripts.go puts it before
-- the body of acquire.lua (AcquirePermit) or scope.lua (the start of a
-- permit scope, AcquirePermitScope). It checks the resource's permit limit
-- before anything else is read or written. Its key and arguments come
-- after the body's own, last:
--
-- KEYS[#KEYS]     limit key   redlease:{R}:permits:limit (K, no TTL)
-- ARGV[#ARGV - 1] the caller's limit K
-- ARGV[#ARGV]     "1" when the caller found a quorum of nodes that do not
--                 record another limit (its read round): a differing
--                 record here is a minority's and is replaced; "" to
--                 refuse it
--
-- A node without the key records the caller's K. A node with another K
-- refuses with "redlease: permit limit <K>" and changes nothing, unless
-- the last argument is "1"; then it takes the caller's K and goes on.
local limit_key, want, override = KEYS[#KEYS], ARGV[#ARGV - 1], ARGV[#ARGV]
local limit = redis.call('GET', limit_key)
if limit == false or (limit ~= want and override == '1') then
  redis.call('SET', limit_key, want)
elseif limit ~= want then
  return redis.error_reply('ERR redlease: permit limit ' .. limit)
end
