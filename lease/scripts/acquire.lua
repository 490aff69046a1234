-- acquire.lua: take the lock on one node, or report who holds it.
--
-- KEYS[1]  lock key   redlease:{R}:lock   (owner value, PX ttl)
-- KEYS[2]  fence key  redlease:{R}:fence  (counter, no TTL)
-- ARGV[1]  owner value of the caller: a random nonce, or holder#epoch#nonce
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  the caller's holder prefix "holder#", or "" without a holder
-- ARGV[4]  the caller's epoch (fixed-width digits; compared as strings)
-- ARGV[5]  "1" when the caller may take over its own holder's lock
-- ARGV[6]  fence floor: the caller's clock in microseconds (0 for none)
--
-- A value holder#epoch# (empty nonce) is a release tombstone: free for
-- other holders, and for the same holder from a later epoch only, so a
-- stale attempt delivered after the release cannot run again.
--
-- The fence counter only grows: a new holder's counter is
-- max(counter + 1, floor). Every node of one round gets the same floor, so
-- counters that agreed before still agree (one round, no raise), and a node
-- that lost its counter (restart without persistence) still hands out a
-- token above every token issued before it, as long as the callers' clocks
-- roughly agree. Counters stay below 2^53 so Lua's doubles keep them exact;
-- a node whose counter reached that bound refuses with an error and
-- changes nothing.
--
-- Returns {1, fence} when the caller now holds the lock on this node:
--   free lock, or another holder's tombstone  -> SET, advance fence
--   lock already held by ARGV[1]              -> refresh the TTL, current counter
--   same holder, stored epoch <= caller's, and
--     takeover allowed or a tombstone         -> replace the owner, advance fence
-- Returns {0, pttl} otherwise: another owner holds it (or a newer epoch of
-- the same holder), nothing changed.
local MAX_FENCE = 9007199254740991 -- 2^53 - 1

local function next_fence()
  local fence = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
  local floor = tonumber(ARGV[6])
  if floor > fence then
    fence = floor
  end
  return fence
end

local current = redis.call('GET', KEYS[1])
local grant = current == false
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if not grant then
  local tombstone = string.sub(current, -1) == '#'
  local prefix = ARGV[3]
  if prefix ~= '' and string.sub(current, 1, #prefix) == prefix then
    local epoch = string.sub(current, #prefix + 1, #prefix + #ARGV[4])
    grant = epoch <= ARGV[4] and (ARGV[5] == '1' or tombstone)
  else
    grant = tombstone
  end
end
if grant then
  local fence = next_fence()
  if fence > MAX_FENCE then
    return redis.error_reply('ERR redlease: fence counter exhausted')
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], string.format('%.0f', fence))
  return {1, fence}
end
return {0, redis.call('PTTL', KEYS[1])}
