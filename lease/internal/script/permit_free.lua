-- permit_free.lua: which permit slots of a resource are held on this node.
--
-- KEYS[1]      limit key  redlease:{R}:permits:limit
-- KEYS[2..K+1] slot keys  redlease:{R}:permit:<i>, i = 0..K-1
-- ARGV[1]      (optional) a holder prefix "holder#": slots whose lock
--              that holder holds are reported as its own
--
-- Returns {limit, s_0, ..., s_K-1}: the node's recorded limit (0 for
-- none), and for each slot -2 when it is free (no lock, or a release's
-- tombstone, which an acquisition takes over), -3 when the holder of
-- ARGV[1] holds it, else its remaining time to live in milliseconds (-1:
-- held without expiry). Reads only.
local out = {tonumber(redis.call('GET', KEYS[1]) or '0')}
local prefix = ARGV[1] or ''
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value == false or string.sub(value, -1) == '#' then
    out[#out + 1] = -2
  elseif prefix ~= '' and string.sub(value, 1, #prefix) == prefix then
    out[#out + 1] = -3
  else
    out[#out + 1] = redis.call('PTTL', KEYS[i])
  end
end
return out
