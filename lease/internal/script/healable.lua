-- healable.lua: not a script of its own; scripts.go puts it before
-- extend.lua and heal.lua, which share it.
--
-- healable() reports whether this node lost its data since the lease was
-- granted here and nobody acquired here since, so that the lease's lock
-- (gone from the node) may be put back:
--   the node key (KEYS[3]) is missing, or the node is still in its guard
--   window (state 'g', since + window after now: see acquire.lua); and
--   the fence counter (KEYS[2]) is below the lease's token (ARGV[3]).
-- A node that kept its data is never healable: a lock missing there was
-- released or expired.
local function healable()
  local node = redis.call('GET', KEYS[3])
  if node ~= false then
    local window, since, state = string.match(node, '^%d+:(%d+):(%d+):(%a)$')
    if state ~= 'g' then
      return false
    end
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if tonumber(since) + tonumber(window) <= now then
      return false
    end
  end
  local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
  return fence < tonumber(ARGV[3])
end

