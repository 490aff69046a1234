-- guard.lua: not a script of its own; scripts.go puts it before
-- acquire.lua and scope.lua, which share it. See acquire.lua for the
-- restart guard it checks (KEYS[3], ARGV[7], ARGV[8], ARGV[9]).
--
-- guard() returns false when this node may grant locks, or the reply to
-- return instead: {2, ms} while the node is guarded for ms more, or an
-- error reply (a caller's guard shorter than the node's, a malformed node
-- key). It creates or updates the node key as acquire.lua describes.
local function guard()
  local node = redis.call('GET', KEYS[3])
  if node ~= false and string.sub(node, 1, #ARGV[9]) == ARGV[9] and string.sub(node, -1) == 'r' then
    return false
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local want, window = tonumber(ARGV[7]), tonumber(ARGV[8])
  if node == false then
    redis.call('SET', KEYS[3], string.format('%.0f:%.0f:%.0f:g', want, window, now))
    return {2, window}
  end
  local g, w, since = string.match(node, '^(%d+):(%d+):(%d+):')
  if since == nil then
    return redis.error_reply('ERR redlease: malformed node key')
  end
  if want < tonumber(g) then
    return redis.error_reply('ERR redlease: guard ' .. g)
  end
  window = math.max(window, tonumber(w))
  since = tonumber(since)
  local state = 'r'
  if since + window > now then
    state = 'g'
  end
  redis.call('SET', KEYS[3], string.format('%.0f:%.0f:%.0f:', want, window, since) .. state)
  if state == 'g' then
    return {2, since + window - now}
  end
  return false
end

