-- acquire.lua: take the lock on one node, or report who holds it.
--
-- KEYS[1]  lock key   redlease:{R}:lock   (owner value, PX ttl)
-- KEYS[2]  fence key  redlease:{R}:fence  (counter, no TTL)
-- KEYS[3]  node key   redlease:node       (this node's restart guard, see guard.lua)
-- ARGV[1]  owner value of the caller: a random nonce, or holder#epoch#nonce
-- ARGV[2]  ttl in milliseconds
-- ARGV[3]  the caller's holder prefix "holder#", or "" without a holder
-- ARGV[4]  the caller's epoch (fixed-width digits; compared as strings)
-- ARGV[5]  "1" when the caller may take over its own holder's lock
-- ARGV[6]  fence floor: the caller's clock in microseconds (0 for none)
-- ARGV[7]  the caller's restart guard in milliseconds (its longest TTL)
-- ARGV[8]  the guard window in milliseconds: the guard plus its drift allowance
-- ARGV[9]  "ARGV[7]:ARGV[8]:", the start of a node key that needs no change
--
-- Restart guard. The node key exists on every node that has kept its data
-- since it was initialised (an acquisition created it, or InitNode). A
-- node without it has lost its data (restart without persistence, FLUSHALL,
-- an empty replica promoted) or is brand new: it may have granted locks
-- that still live on other nodes, so it grants nothing for one guard window
-- from now ("since"). Its value is "guard:window:since:state", state "g"
-- while guarded and "r" once the window has passed. It records the longest
-- guard any caller named and refuses callers whose guard is shorter, so no
-- client with a shorter guard can collect a quorum on nodes where longer
-- leases live; a longer guard arriving later lengthens the window from the
-- same "since" (and guards the node again if that window has not passed).
-- In the steady state the key starts with ARGV[9] and ends in "r": one GET.
--
-- Returns {1, fence} when the caller now holds the lock on this node:
--   free lock, or another holder's tombstone  -> SET, advance fence
--   lock already held by ARGV[1]              -> refresh the TTL, current counter
--   same holder, stored epoch <= caller's, and
--     takeover allowed                        -> replace the owner, advance fence
--   same holder's tombstone of an epoch
--     earlier than the caller's               -> replace it, advance fence
-- Returns {0, pttl} when another owner holds it (or a later epoch of the
--   same holder, or the same holder's tombstone from this epoch or a later
--   one): nothing changed.
-- Returns {2, ms} when the node is guarded for ms more: nothing changed
--   but the node key.
-- Errors "redlease: guard <ms>" when the caller's guard is shorter than
--   the node's, "redlease: fence counter exhausted" at the counter's bound.
--
-- The fence counter only grows: a new holder's counter is
-- max(counter + 1, floor). Every node of one round gets the same floor, so
-- counters that agreed before still agree (one round, no raise), and a node
-- that lost its counter still hands out a token above every token issued
-- before it, as long as the callers' clocks roughly agree. Counters stay
-- below 2^53 so Lua's doubles keep them exact.
local MAX_FENCE = 9007199254740991 -- 2^53 - 1

local refusal = guard()
if refusal then
  return refusal
end

local function next_fence()
  local fence = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
  local floor = tonumber(ARGV[6])
  if floor > fence then
    fence = floor
  end
  return fence
end

local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
local grant = current == false
if not grant then
  local tombstone = string.sub(current, -1) == '#'
  local prefix = ARGV[3]
  if prefix ~= '' and string.sub(current, 1, #prefix) == prefix then
    -- The stored epoch is everything up to the next '#'; the empty epoch
    -- is the earliest, and string order is epoch order (fixed width).
    local epoch = string.match(string.sub(current, #prefix + 1), '^([^#]*)#')
    if tombstone then
      grant = epoch ~= nil and epoch < ARGV[4]
    else
      grant = epoch ~= nil and epoch <= ARGV[4] and ARGV[5] == '1'
    end
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
