-- permit_free.lua: which permit slots of a resource are held on this node.
--
-- KEYS[1]      limit key  redlease:{R}:permits:limit
-- KEYS[2..K+1] slot keys  redlease:{R}:permit:<i>, i = 0..K-1
--
-- Returns {limit, pttl_0, ..., pttl_K-1}: the node's recorded limit (0 for
-- none) and each slot's remaining time to live in milliseconds, -2 when the
-- slot is free, -1 when it is held without expiry. Reads only.
local out = {tonumber(redis.call('GET', KEYS[1]) or '0')}
for i = 2, #KEYS do
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
